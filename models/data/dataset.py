"""The torch side of the shard reader: a webdataset pipeline per DataLoader worker.

:class:`ShardDataset` is a ``webdataset.DataPipeline`` (an ``IterableDataset``) whose stages
are the pure generators of :mod:`avprep.reader.stream`: this reader's shards -> validated,
filtered samples -> shuffle buffer -> view -> items. What torch adds is who "this reader" is:
the DataLoader worker (``get_worker_info``) and the distributed rank (``torch.distributed``
when initialised, else ``RANK``/``WORLD_SIZE``, else 0/1). See :mod:`avprep.reader.stream` for
the partitioning (no duplicates, no gaps per epoch) and the resume rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
import webdataset as wds
from torch.utils.data import get_worker_info

from avprep.reader.sample import ShardSample
from avprep.reader.sources import resolve_shards
from avprep.reader.stream import (
    ReaderSlot,
    SampleFilter,
    StreamConfig,
    epoch_shards,
    iter_slot_samples,
    reader_slot,
    view_items,
)
from avprep.reader.views import View


def distributed_rank_world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def make_view(view: View | str, config: Any = None) -> View:
    """A view instance, or a view name resolved through the method registry
    (:func:`models.methods.view_class`), built with ``config`` (its default when None)."""
    if isinstance(view, View):
        return view
    from models.methods import view_class

    try:
        cls = view_class(view)
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    return cls(config) if config is not None else cls()


class ShardDataset(wds.DataPipeline):
    """Streams one view's items from shards; one instance per loader (pickled to workers).

    ``source``: anything :func:`avprep.reader.resolve_shards` takes. ``splits`` / ``keys``
    (e.g. :func:`avprep.reader.selected_keys`) / ``kinds`` filter samples at read time.
    ``rank``/``world_size`` default to :func:`distributed_rank_world`. ``epoch`` and
    ``resume`` (``{reader id: samples to skip}``) are set by :class:`ShardLoader`."""

    def __init__(
        self,
        source: str | os.PathLike | Sequence[str],
        view: View | str,
        *,
        splits: Iterable[str] | str | None = None,
        keys: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        seed: int = 0,
        shuffle: bool = True,
        shuffle_buffer: int = 100,
        item_buffer: int = 1000,
        split_by: str = "auto",
        rank: int | None = None,
        world_size: int | None = None,
        validate: bool = True,
    ) -> None:
        split_list = (splits,) if isinstance(splits, str) else splits
        self.shards = resolve_shards(source, split_list)
        self.view = make_view(view)
        self.filter = SampleFilter.make(split_list, keys, kinds, validate)
        self.seed = seed
        self.shuffle = shuffle
        self.shuffle_buffer = shuffle_buffer if shuffle else 0
        self.item_buffer = item_buffer if shuffle else 0
        self.split_by = split_by
        if rank is None or world_size is None:
            r, w = distributed_rank_world()
            rank = r if rank is None else rank
            world_size = w if world_size is None else world_size
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.resume: dict[int, int] = {}
        # DataLoader worker i reads as worker (i + worker_offset) % num_workers: a resumed
        # epoch starts its round-robin with the worker whose batch came next (ShardLoader)
        self.worker_offset = 0
        super().__init__(self._samples, self._items)

    def slot(self) -> ReaderSlot:
        """This process's reader slot for the current epoch."""
        info = get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        worker = (worker + self.worker_offset) % num_workers
        shards = epoch_shards(self.shards, self.seed, self.epoch, self.shuffle)
        return reader_slot(shards, self.rank, self.world_size, worker, num_workers, self.split_by)

    def readers(self, num_workers: int) -> int:
        return self.world_size * max(num_workers, 1)

    def _samples(self) -> Iterator[ShardSample]:
        self._slot = self.slot()
        return self.filter.apply(iter_slot_samples(self._slot))

    def _items(self, samples: Iterator[ShardSample]) -> Iterator[dict[str, Any]]:
        config = StreamConfig(
            seed=self.seed,
            epoch=self.epoch,
            shuffle_shards=self.shuffle,
            shuffle_buffer=self.shuffle_buffer,
            item_buffer=self.item_buffer,
            skip=self.resume.get(self._slot.reader, 0),
        )
        return view_items(samples, self._slot.reader, self.view, config)
