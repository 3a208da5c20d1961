"""Partitioning across workers and ranks (each sample exactly once per epoch), deterministic
shuffling, and resuming a reader mid-epoch, on the pure (torch-free) stream."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from avprep.reader import (
    SampleFilter,
    StreamConfig,
    View,
    epoch_shards,
    reader_slot,
)
from avprep.reader.stream import iter_slot_samples, shuffle_buffer, view_items
from tests.reader.reader_fixtures import synthetic_keys


def iter_view_items(slot, view, sample_filter, config):
    """One reader's items for one epoch, composed as ``models.data``'s dataset composes them."""
    return view_items(sample_filter.apply(iter_slot_samples(slot)), slot.reader, view, config)


class KeyView(View):
    """One item per sample: its key (what partitioning is about)."""

    name = "keys"

    def items(self, sample, rng):
        return [{"key": sample.key}]


class ManyView(View):
    """Three items per sample, mixed across samples like DVAE stage 1."""

    name = "many"
    items_per_sample = 3

    def items(self, sample, rng):
        return [{"key": sample.key, "part": i} for i in range(3)]


def epoch_keys(shards, world, workers, split_by, epoch=0, view=None, config=None):
    out = []
    for rank in range(world):
        for worker in range(workers):
            order = epoch_shards(shards, 7, epoch)
            slot = reader_slot(order, rank, world, worker, workers, split_by)
            cfg = config or StreamConfig(seed=7, epoch=epoch, shuffle_buffer=4)
            items = iter_view_items(slot, view or KeyView(), SampleFilter(), cfg)
            out += [it["key"] for it in items]
    return out


@pytest.mark.parametrize("split_by", ["auto", "shard", "sample"])
@pytest.mark.parametrize("world,workers", [(1, 1), (1, 2), (2, 1), (2, 3), (3, 3), (4, 2)])
def test_every_sample_exactly_once_per_epoch(synthetic, world, workers, split_by):
    keys = epoch_keys(synthetic, world, workers, split_by)
    assert Counter(keys) == Counter(synthetic_keys())  # no duplicates, no gaps


def test_many_items_per_sample_are_all_delivered_once(synthetic):
    keys = epoch_keys(synthetic, 2, 2, "auto", view=ManyView())
    assert Counter(keys) == Counter({k: 3 for k in synthetic_keys()})


def test_epochs_reshuffle_deterministically(synthetic):
    a0 = epoch_keys(synthetic, 1, 2, "auto", epoch=0)
    assert a0 == epoch_keys(synthetic, 1, 2, "auto", epoch=0)
    a1 = epoch_keys(synthetic, 1, 2, "auto", epoch=1)
    assert a1 != a0 and sorted(a1) == sorted(a0)


def test_shuffle_buffer_is_a_permutation():
    rng = np.random.default_rng(0)
    out = list(shuffle_buffer(range(100), 10, rng))
    assert sorted(out) == list(range(100)) and out != list(range(100))
    assert list(shuffle_buffer(range(5), 0, rng)) == list(range(5))


def _reader_items(shards, view, skip=0):
    slot = reader_slot(epoch_shards(shards, 3, 0), 0, 1, 0, 1, "auto")
    cfg = StreamConfig(seed=3, epoch=0, shuffle_buffer=5, item_buffer=7, skip=skip)
    return list(iter_view_items(slot, view, SampleFilter(), cfg))


def test_resume_continues_exactly(synthetic):
    full = _reader_items(synthetic, KeyView())
    cut = 11
    resume_at = full[cut - 1]["__resume__"]
    rest = _reader_items(synthetic, KeyView(), skip=resume_at)
    assert [i["key"] for i in full[:cut] + rest] == [i["key"] for i in full]


def test_resume_with_mixed_items_loses_nothing(synthetic):
    full = _reader_items(synthetic, ManyView())
    cut = 20
    rest = _reader_items(synthetic, ManyView(), skip=full[cut - 1]["__resume__"])
    seen = Counter((i["key"], i["part"]) for i in full[:cut] + rest)
    assert set(seen) == {(k, p) for k in synthetic_keys() for p in range(3)}  # nothing lost
    assert sum(seen.values()) - len(seen) <= 7 * 3  # repeats bounded by the item buffer


def test_split_and_key_filters(synthetic):
    slot = reader_slot(synthetic, 0, 1, 0, 1)
    flt = SampleFilter.make(keys={"k0001", "k0020"})
    got = [i["key"] for i in iter_view_items(slot, KeyView(), flt, StreamConfig(shuffle_buffer=0))]
    assert got == ["k0001", "k0020"]
    flt = SampleFilter.make(splits="val")
    assert list(iter_view_items(slot, KeyView(), flt, StreamConfig())) == []


def test_bad_reader_layout_rejected(synthetic):
    with pytest.raises(ValueError, match="split_by"):
        reader_slot(synthetic, 0, 1, 0, 1, "rows")
    with pytest.raises(ValueError, match="bad reader"):
        reader_slot(synthetic, 2, 2, 0, 1)
