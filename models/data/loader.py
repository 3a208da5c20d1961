"""DataLoader wiring: :func:`make_loader` -> :class:`ShardLoader` (epochs, resume state).

Each DataLoader worker is one reader of :class:`~models.data.dataset.ShardDataset`; a batch
comes from one worker, so it carries one ``__reader__`` id and, in ``__resume__``, how far
that reader's sample stream has been consumed. ``ShardLoader`` counts what the trainer has
actually received, so ``state_dict()`` taken between batches resumes after exactly those
samples (see :mod:`avprep.reader.stream`); save it with the model checkpoint, per rank.
Workers are not persistent: the epoch and resume position reach them when each epoch starts.

Exact resume with several workers: DataLoader hands out batches round-robin over its workers
(skipping exhausted ones), always starting at worker 0. The loader remembers which worker's
batch came last and, on resume, rotates the workers' reader ids so that the round-robin
continues with the next one: the resumed batch sequence equals the uninterrupted one. The
DataLoader gets its own seeded ``generator``, so creating one never draws from torch's
global RNG (which the trainer's own randomness uses).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader

from avprep.reader.stream import derive_seed
from avprep.reader.views import View
from models.data.collate import collate_items
from models.data.dataset import ShardDataset


class ShardLoader:
    """Iterate for one epoch per ``for`` loop; ``state_dict``/``load_state_dict`` to resume."""

    def __init__(
        self,
        dataset: ShardDataset,
        batch_size: int,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        drop_last: bool = False,
        prefetch_factor: int | None = None,
        timeout: float = 0,
    ) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else pin_memory
        self.drop_last = drop_last
        self.prefetch_factor = prefetch_factor
        self.timeout = timeout
        self.epoch = 0
        self.positions: dict[int, int] = {}
        self.last_worker: int | None = None  # local worker of the last batch this epoch
        self._offset = 0  # worker rotation of the epoch being resumed

    @property
    def readers(self) -> int:
        return self.dataset.readers(self.num_workers)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.positions = {}
        self.last_worker = None
        self._offset = 0

    def _workers(self) -> int:
        return max(self.num_workers, 1)

    def dataloader(self) -> DataLoader:
        self.dataset.epoch = self.epoch
        self.dataset.resume = dict(self.positions)
        self.dataset.worker_offset = self._offset
        kwargs: dict[str, Any] = {}
        if self.num_workers > 0 and self.prefetch_factor is not None:
            kwargs["prefetch_factor"] = self.prefetch_factor
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=collate_items,
            pin_memory=self.pin_memory,
            drop_last=self.drop_last,
            persistent_workers=False,
            timeout=self.timeout,
            generator=torch.Generator().manual_seed(
                derive_seed("loader", self.dataset.seed, self.epoch) % 2**63
            ),
            **kwargs,
        )

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.dataloader():
            reader = int(batch["__reader__"][0])
            self.positions[reader] = max(
                self.positions.get(reader, 0), int(batch["__resume__"].max())
            )
            self.last_worker = reader - self.dataset.rank * self._workers()
            yield batch
        self.set_epoch(self.epoch + 1)

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "positions": dict(self.positions),
            "readers": self.readers,
            "rank": self.dataset.rank,
            "seed": self.dataset.seed,
            "n_shards": len(self.dataset.shards),
            "last_worker": self.last_worker,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue where ``state`` was taken. The reader layout (ranks x workers), seed and
        shard count must match: the position is a count in each reader's own stream."""
        for name, mine in (
            ("readers", self.readers),
            ("seed", self.dataset.seed),
            ("n_shards", len(self.dataset.shards)),
            ("rank", self.dataset.rank),
        ):
            if state.get(name) != mine:
                raise ValueError(
                    f"cannot resume: the saved loader had {name}={state.get(name)!r}, this one "
                    f"has {mine!r} (resume with the same shards, seed, ranks and workers)"
                )
        self.epoch = int(state["epoch"])
        self.positions = {int(k): int(v) for k, v in state["positions"].items()}
        last = state.get("last_worker")
        self.last_worker = None if last is None else int(last)
        self._offset = 0 if last is None else (int(last) + 1) % self._workers()


def make_loader(
    source: str | os.PathLike | Sequence[str],
    view: View | str,
    batch_size: int,
    *,
    num_workers: int = 0,
    splits: Iterable[str] | str | None = None,
    keys: Iterable[str] | None = None,
    selection: str | os.PathLike | None = None,
    kinds: Iterable[str] | None = None,
    seed: int = 0,
    shuffle: bool = True,
    shuffle_buffer: int = 100,
    item_buffer: int = 1000,
    split_by: str = "auto",
    rank: int | None = None,
    world_size: int | None = None,
    pin_memory: bool | None = None,
    drop_last: bool = False,
    prefetch_factor: int | None = None,
) -> ShardLoader:
    """One call for a trainer: shards + view + filters -> an epoch-aware loader.

    ``selection``: a ``select-samples`` output (``selection.parquet`` or its folder): only
    the selected keys are read (intersected with ``keys`` when both are given)."""
    if selection is not None:
        from avprep.reader import selected_keys

        chosen = selected_keys(selection)
        keys = chosen if keys is None else chosen & frozenset(keys)
    dataset = ShardDataset(
        source,
        view,
        splits=splits,
        keys=keys,
        kinds=kinds,
        seed=seed,
        shuffle=shuffle,
        shuffle_buffer=shuffle_buffer,
        item_buffer=item_buffer,
        split_by=split_by,
        rank=rank,
        world_size=world_size,
    )
    return ShardLoader(dataset, batch_size, num_workers, pin_memory, drop_last, prefetch_factor)
