"""The reader's sample stream, without torch: shards -> samples -> filter -> shuffle -> view.

Everything a DataLoader worker does is here as plain generators, so it is tested (and
usable) without torch; ``models.data`` only adds worker/rank discovery and collation.

Partitioning (no duplicates, no gaps per epoch). Every epoch the shard list is permuted by
``(seed, epoch)`` — the same permutation on every rank and worker — and each of the
``G = world_size * num_workers`` readers (global id ``g = rank * num_workers + worker``)
takes

- ``split_by="shard"``: shards ``g, g + G, g + 2G, ...`` (each shard is read by one reader;
  readers get unequal sample counts when shards differ in size or ``G`` does not divide the
  shard count);
- ``split_by="sample"``: every shard, keeping the samples whose position in the epoch's
  sample order is ``g mod G`` (each reader reads all bytes; use it when there are fewer
  shards than readers);
- ``"auto"`` (default): ``shard`` when there are at least ``G`` shards, else ``sample``.

Resume. A reader's stream is a pure function of ``(shards, seed, epoch, g, G)``: the sample
shuffle buffer and each sample's view randomness are seeded from them (a sample's view rng
from ``(seed, epoch, key)``). Every item carries ``__reader__`` (``g``) and ``__resume__``:
the number of leading (post-shuffle) samples of that reader whose items have all been
yielded. Restarting a reader with ``skip = __resume__`` of the last item consumed repeats
nothing of those samples and continues exactly (views that give several items per sample
and mix them in an item buffer may repeat the items of samples still in that buffer: at
least once, never lost).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from avprep.reader.sample import ShardSample
from avprep.reader.sources import iter_shard_samples
from avprep.reader.views import Item, View

T = TypeVar("T")
SPLIT_MODES = ("auto", "shard", "sample")


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from any printable parts (stable across processes and machines)."""
    text = "\0".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def epoch_shards(shards: Sequence[str], seed: int, epoch: int, shuffle: bool = True) -> list[str]:
    """The epoch's shard order (identical on every rank and worker)."""
    shards = list(shards)
    if not shuffle:
        return shards
    rng = np.random.Generator(np.random.PCG64(derive_seed("shards", seed, epoch)))
    return [shards[i] for i in rng.permutation(len(shards))]


@dataclass(frozen=True)
class ReaderSlot:
    """Which part of an epoch one reader reads."""

    shards: tuple[str, ...]
    reader: int  # global id g
    readers: int  # G
    by_sample: bool  # keep samples at positions == g mod G of the shards' sample order


def reader_slot(
    shards: Sequence[str],
    rank: int,
    world_size: int,
    worker: int,
    num_workers: int,
    split_by: str = "auto",
) -> ReaderSlot:
    if split_by not in SPLIT_MODES:
        raise ValueError(f"split_by must be one of {SPLIT_MODES}, not {split_by!r}")
    if not (0 <= rank < world_size and 0 <= worker < num_workers):
        raise ValueError(f"bad reader: rank {rank}/{world_size}, worker {worker}/{num_workers}")
    G = world_size * num_workers
    g = rank * num_workers + worker
    mode = split_by if split_by != "auto" else ("shard" if len(shards) >= G else "sample")
    if mode == "shard":
        return ReaderSlot(tuple(shards[g::G]), g, G, False)
    return ReaderSlot(tuple(shards), g, G, True)


def iter_slot_samples(
    slot: ReaderSlot,
    opener: Callable[[str], Iterable[tuple[str, dict[str, bytes]]]] = iter_shard_samples,
) -> Iterator[tuple[str, dict[str, bytes], str]]:
    """``(key, fields, url)`` of the reader's samples, in shard order."""
    pos = 0
    for url in slot.shards:
        for key, fields in opener(url):
            if not slot.by_sample or pos % slot.readers == slot.reader:
                yield key, fields, url
            pos += 1


@dataclass
class SampleFilter:
    """Read-time selection: splits, a key set (``select-samples``), sample kinds."""

    splits: frozenset[str] | None = None
    keys: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    validate: bool = True

    @classmethod
    def make(
        cls,
        splits: Iterable[str] | str | None = None,
        keys: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        validate: bool = True,
    ) -> SampleFilter:
        if isinstance(splits, str):
            splits = (splits,)
        return cls(
            frozenset(splits) if splits is not None else None,
            frozenset(keys) if keys is not None else None,
            frozenset(kinds) if kinds is not None else None,
            validate,
        )

    def apply(self, samples: Iterable[tuple[str, dict[str, bytes], str]]) -> Iterator[ShardSample]:
        """Parse + validate the metadata of samples that pass the key filter; keep those of
        the wanted splits/kinds. Wrong schema versions raise :class:`SchemaError`."""
        for key, fields, url in samples:
            if self.keys is not None and key not in self.keys:
                continue
            s = ShardSample.from_fields(key, fields, url, validate=self.validate)
            if self.splits is not None and s.split not in self.splits:
                continue
            if self.kinds is not None and s.kind not in self.kinds:
                continue
            yield s


def shuffle_buffer(items: Iterable[T], size: int, rng: np.random.Generator) -> Iterator[T]:
    """Reservoir-style shuffle: keep ``size`` items, emit a random one per new item."""
    if size <= 1:
        yield from items
        return
    buf: list[T] = []
    for x in items:
        if len(buf) < size:
            buf.append(x)
            continue
        i = int(rng.integers(size))
        buf[i], x = x, buf[i]
        yield x
    for i in rng.permutation(len(buf)):
        yield buf[i]


@dataclass
class StreamConfig:
    """What one reader reads in one epoch."""

    seed: int = 0
    epoch: int = 0
    shuffle_shards: bool = True
    shuffle_buffer: int = 100  # samples (raw bytes held per reader: size x bytes per sample)
    item_buffer: int = 1000  # items, for views with many items per sample (DVAE stage 1)
    skip: int = 0  # resume: leading post-shuffle samples of this reader already consumed


def view_items(
    samples: Iterable[ShardSample], reader: int, view: View, config: StreamConfig
) -> Iterator[Item]:
    """Shuffle buffer, resume skip, view and (for many-item views) item mixing, for reader
    ``reader``'s filtered samples; tags every item with ``__reader__`` and ``__resume__``."""
    rng = np.random.Generator(
        np.random.PCG64(derive_seed("buffer", config.seed, config.epoch, reader))
    )
    shuffled = shuffle_buffer(samples, config.shuffle_buffer, rng)

    def produced() -> Iterator[tuple[int, list[Item]]]:
        for pos, sample in enumerate(shuffled):
            if pos < config.skip:
                continue
            vrng = np.random.Generator(
                np.random.PCG64(derive_seed("view", config.seed, config.epoch, sample.key))
            )
            yield pos, view(sample, vrng)

    if view.items_per_sample > 1 and config.item_buffer > 1:
        # its own generator: the sample order must not depend on where a resume started
        mix_rng = np.random.Generator(
            np.random.PCG64(derive_seed("items", config.seed, config.epoch, reader, config.skip))
        )
        yield from _mix_items(produced(), config.item_buffer, mix_rng, reader)
        return
    for pos, items in produced():
        for item in items:
            item["__reader__"] = reader
            item["__resume__"] = pos + 1
            yield item


def _mix_items(
    produced: Iterator[tuple[int, list[Item]]], size: int, rng: np.random.Generator, reader: int
) -> Iterator[Item]:
    """Shuffle items across samples in a buffer of ``size``, tagging the resume point: the
    smallest sample position with items still in the buffer (or one past the last seen)."""
    buf: list[tuple[int, Item]] = []
    left: dict[int, int] = {}
    heap: list[int] = []
    next_pos = 0

    def emit() -> Item:
        i = int(rng.integers(len(buf)))
        buf[i], buf[-1] = buf[-1], buf[i]
        pos, item = buf.pop()
        left[pos] -= 1
        if left[pos] == 0:
            del left[pos]
        while heap and heap[0] not in left:
            heapq.heappop(heap)
        item["__reader__"] = reader
        item["__resume__"] = heap[0] if heap else next_pos
        return item

    for pos, items in produced:
        next_pos = pos + 1
        if not items:
            continue
        left[pos] = len(items)
        heapq.heappush(heap, pos)
        for item in items:
            buf.append((pos, item))
            if len(buf) >= size:
                yield emit()
    while buf:
        yield emit()
