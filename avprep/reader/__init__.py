"""Reading avprep shards for training, without torch (``models.data`` wraps it for torch).

- :func:`resolve_shards` (build folder, directory, brace pattern, glob, URL, ``pipe:``),
  :func:`iter_samples` (validated :class:`ShardSample` objects, filtered by split / keys);
- the generic view base :class:`View` (:mod:`avprep.reader.views`); each method's views live
  in its package (``models/<method>/view.py``), named through ``models.methods``;
- the per-reader stream (partitioning across workers/ranks, shuffle buffer, resume):
  :mod:`avprep.reader.stream`;
- :func:`selected_keys` (``select-samples`` output) and :func:`sequence_ids` (DVAE's
  sequence ids from a build's manifest).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import pyarrow.parquet as pq

from avprep import storage
from avprep.build_layout import BuildLayout
from avprep.reader.sample import MissingFieldError, ShardSample, field_hint
from avprep.reader.sources import ShardSourceError, iter_shard_samples, open_shard, resolve_shards
from avprep.reader.stream import (
    ReaderSlot,
    SampleFilter,
    StreamConfig,
    epoch_shards,
    reader_slot,
)
from avprep.reader.views import IMAGE_KEYS, Item, View
from avprep.schema import SchemaError


def iter_samples(
    spec: str | os.PathLike | Sequence[str],
    splits: Iterable[str] | str | None = None,
    keys: Iterable[str] | None = None,
    kinds: Iterable[str] | None = None,
) -> Iterator[ShardSample]:
    """Every sample of the shards ``spec`` names, in shard order, validated and filtered."""
    split_list = (splits,) if isinstance(splits, str) else splits
    urls = resolve_shards(spec, split_list)
    flt = SampleFilter.make(split_list, keys, kinds)
    for url in urls:
        yield from flt.apply((k, f, url) for k, f in iter_shard_samples(url))


def selected_keys(selection: str | os.PathLike) -> frozenset[str]:
    """Keys ``avprep select-samples`` selected (its ``selection.parquet`` or its folder)."""
    from avprep.selection import load_selected_keys

    return frozenset(load_selected_keys(selection))


def sequence_ids(
    build: str | os.PathLike, splits: Iterable[str] | str | None = None
) -> dict[str, int]:
    """``{key: 0..n-1}`` over the build's written clips (manifest order = key order), for
    DVAE's per-sequence lookup table; every rank and worker computes the same mapping."""
    path = BuildLayout(build).manifest
    if not storage.exists(path):
        raise ShardSourceError(f"{path} not found: sequence ids need the build's manifest")
    with storage.open_binary(path) as f:
        table = pq.read_table(f, columns=["key", "split", "kind", "status"])
    wanted = {splits} if isinstance(splits, str) else (set(splits) if splits else None)
    keys = sorted(
        r["key"]
        for r in table.to_pylist()
        if r["status"] == "ok" and r["kind"] == "clip" and (wanted is None or r["split"] in wanted)
    )
    return {k: i for i, k in enumerate(keys)}


__all__ = [
    "IMAGE_KEYS", "Item", "MissingFieldError", "ReaderSlot", "SampleFilter", "SchemaError",
    "ShardSample", "ShardSourceError", "StreamConfig", "View", "epoch_shards", "field_hint",
    "iter_samples", "iter_shard_samples", "open_shard", "reader_slot",
    "resolve_shards", "selected_keys", "sequence_ids",
]  # fmt: skip
