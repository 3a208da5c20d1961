"""The torch loader: worker x rank partitioning through a real DataLoader, collation, resume
mid-epoch, deferred JPEG decoding (CPU here; nvJPEG when a GPU is present)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from avprep.reader import SchemaError, View
from avprep.shards import ShardWriter
from models.data import decode_jpegs, images_to_float, make_loader, to_device
from models.davs.view import DavsView
from models.dvae.view import DvaeConfig, DvaeFaceView, DvaeSegmentView
from tests.reader.reader_fixtures import minimal_meta, synthetic_keys


class KeyView(View):
    name = "keys"

    def items(self, sample, rng):
        return [{"key": sample.key, "n": 1}]


def _keys(loader):
    return [k for batch in loader for k in batch["key"]]


@pytest.mark.parametrize("world,workers", [(1, 0), (1, 2), (2, 2), (3, 1)])
def test_dataloader_workers_and_ranks_cover_each_sample_once(synthetic, world, workers):
    seen = []
    for rank in range(world):
        loader = make_loader(
            synthetic, KeyView(), 3, num_workers=workers, rank=rank, world_size=world,
            shuffle_buffer=4,
        )  # fmt: skip
        seen += _keys(loader)
    assert Counter(seen) == Counter(synthetic_keys())


def test_second_epoch_is_reshuffled_and_complete(synthetic):
    loader = make_loader(synthetic, KeyView(), 4, num_workers=2, shuffle_buffer=4)
    e0, e1 = _keys(loader), _keys(loader)
    assert loader.epoch == 2
    assert sorted(e0) == sorted(e1) == sorted(synthetic_keys()) and e0 != e1


def test_resume_mid_epoch_through_workers(synthetic):
    loader = make_loader(synthetic, KeyView(), 2, num_workers=2, shuffle_buffer=3)
    first, it = [], iter(loader)
    for _ in range(5):
        first += next(it)["key"]
    state = json.loads(json.dumps(loader.state_dict()))  # survives a checkpoint file
    resumed = make_loader(synthetic, KeyView(), 2, num_workers=2, shuffle_buffer=3)
    resumed.load_state_dict(state)
    rest = _keys(resumed)
    assert Counter(first + rest) == Counter(synthetic_keys())
    other = make_loader(synthetic, KeyView(), 2, num_workers=3)
    with pytest.raises(ValueError, match="readers"):
        other.load_state_dict(state)


def test_davs_batch_tensors(demo_build):
    loader = make_loader(demo_build, DavsView(), 2, num_workers=2, shuffle_buffer=2)
    batches = list(loader)
    assert sum(len(b["key"]) for b in batches) == 6
    b = batches[0]
    assert b["frames"].dtype == torch.uint8 and b["frames"].shape == (2, 24, 256, 256, 3)
    assert b["mfcc"].dtype == torch.float32 and b["mfcc"].shape == (2, 24, 12, 20)
    assert b["word_id"].dtype == torch.int64 and b["identity_frame"].shape == (2, 256, 256, 3)
    x = images_to_float(to_device(b, "cpu")["frames"])
    assert x.shape == (2, 24, 3, 256, 256) and x.min() >= -1 and x.max() <= 1
    assert torch.isfinite(b["mfcc"]).all()


def test_dvae_segment_batches_and_selection(demo_build, tmp_path):
    keys = sorted({k for b in make_loader(demo_build, KeyView(), 8) for k in b["key"]})
    pq.write_table(
        pa.table({"key": keys, "selected": [k == keys[0] for k in keys]}),
        tmp_path / "selection.parquet",
    )
    loader = make_loader(demo_build, DvaeSegmentView(), 32, selection=tmp_path, num_workers=2)
    batches = list(loader)
    assert {k for b in batches for k in b["key"]} == {keys[0]}
    b = batches[0]
    assert b["segment"].shape[1:] == (20, 200) and b["viseme_id"].dtype == torch.int64
    assert torch.isnan(b["noise_db"]).all()


def test_deferred_jpeg_decodes_like_the_worker(cremad_build):
    eager = next(iter(make_loader(cremad_build, DvaeFaceView(DvaeConfig(seq_len=8)), 1)))
    lazy_view = DvaeFaceView(DvaeConfig(seq_len=8, defer_jpeg=True))
    lazy = next(iter(make_loader(cremad_build, lazy_view, 1)))
    assert "frames" not in lazy and len(lazy["frames_jpeg"][0]) == 8
    moved = to_device(lazy, "cpu")
    assert torch.equal(moved["frames"], eager["frames"])
    assert torch.equal(moved["reference"], eager["reference"])


def test_wrong_schema_version_fails_loudly(tmp_path):
    meta = dict(minimal_meta("old"), schema_version=0)
    with open(tmp_path / "train-000000.tar", "wb") as f, ShardWriter(f) as w:
        w.add("old", {"json": json.dumps(meta).encode()})
    with pytest.raises(SchemaError, match="schema_version 0"):
        list(make_loader(tmp_path, KeyView(), 1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_decode_and_transfer(cremad_build):
    view = DvaeFaceView(DvaeConfig(seq_len=8, defer_jpeg=True))
    batch = next(iter(make_loader(cremad_build, view, 1, pin_memory=True)))
    cpu = decode_jpegs(batch["frames_jpeg"], "cpu")
    gpu = to_device(batch, "cuda")
    assert gpu["frames"].device.type == "cuda" and gpu["segments"].device.type == "cuda"
    assert gpu["frames"].shape == cpu.shape and gpu["frames"].dtype == torch.uint8
    diff = (gpu["frames"].cpu().int() - cpu.int()).abs().float()
    assert diff.mean() < 1.0  # nvJPEG vs libjpeg-turbo IDCT rounding only
    assert np.isfinite(images_to_float(gpu["frames"]).cpu().numpy()).all()


def _take(loader, n):
    """The first ``n`` batches of a step loop that cycles epochs."""
    out, it = [], iter(loader)
    while len(out) < n:
        try:
            out.append(next(it)["key"])
        except StopIteration:
            it = iter(loader)
    return out


@pytest.mark.parametrize("stop", [3, 5, 13])
def test_resume_with_workers_repeats_the_uninterrupted_batch_order(synthetic, stop):
    """Two workers with uneven parts (one runs dry first): resuming after ``stop`` batches
    gives exactly the batches the uninterrupted loop gives next (worker round-robin kept)."""

    def loader():
        return make_loader(synthetic, KeyView(), 3, num_workers=2, shuffle_buffer=3)

    straight = _take(loader(), 16)  # 28 samples: 10 or 11 batches per epoch
    first = loader()
    head = _take(first, stop)
    state = json.loads(json.dumps(first.state_dict()))
    resumed = loader()
    resumed.load_state_dict(state)
    assert head + _take(resumed, 16 - stop) == straight


def test_deferred_crops_are_cut_like_the_views():
    """Deferred JPEGs hold the stored 260 crop256; to_device cuts each item's crop_box (and
    mirrors where flip) exactly as the views cut eagerly decoded frames."""
    from avprep.reader.views import crop_stored
    from models.data.device import apply_crop_boxes

    rng = np.random.default_rng(0)
    stored = rng.integers(0, 256, (3, 2, 260, 260, 3), dtype=np.uint8)
    boxes = np.array([[0, 4, 256], [4, 0, 256], [2, 2, 256]])
    flips = np.array([True, False, True])
    got = apply_crop_boxes(torch.from_numpy(stored), torch.from_numpy(boxes), torch.tensor(flips))
    for b in range(3):
        ref = crop_stored(stored[b], 2, int(boxes[b, 0]), int(boxes[b, 1]), bool(flips[b]))
        assert np.array_equal(got[b].numpy(), ref)
