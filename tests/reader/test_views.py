"""Every view on shards built from fixture corpora: shapes, dtypes, ranges, and windows equal
to windows cut directly from the stored tracks with the paper's registered convention."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from avprep.face.crop_codec import decode_stream
from avprep.features import frame_windows, get_feature_config
from avprep.features.tracks import track_timing
from avprep.reader import (
    MissingFieldError,
    SchemaError,
    ShardSample,
    iter_samples,
    selected_keys,
    sequence_ids,
)
from avprep.reader.views import valid_starts
from models.cran.view import CranConfig, CranView
from models.davs.view import DavsConfig, DavsIdentityView, DavsView
from models.dvae.view import DvaeConfig, DvaeFaceView, DvaeSegmentView


def rng(seed=0):
    return np.random.default_rng(seed)


def reference_windows(sample: ShardSample, feature: str, track_name: str | None = None):
    """Windows cut straight from the stored track with the *registered* config (not the
    metadata the reader uses) and the usable range derived from the stored audio length."""
    cfg = get_feature_config(feature)
    fields = sample.fields
    track = np.load(io.BytesIO(fields[f"{track_name or feature}.npy"]))
    audio, sr = sf.read(io.BytesIO(fields["flac"]), dtype="float32")
    assert sr == 16000 and len(audio) == sample.n_frames * 640
    timing = track_timing(cfg)
    usable = timing.usable_steps(len(audio), len(track))
    return frame_windows(track, sample.n_frames, 25.0, cfg.window, timing, usable)


@pytest.fixture(scope="module")
def demo_samples(demo_build):
    samples = list(iter_samples(demo_build))
    assert len(samples) == 6
    return samples


def test_davs_view(demo_samples):
    view = DavsView()
    for sample in demo_samples:
        (item,) = view(sample, rng())
        idx = item["frame_index"]
        assert item["frames"].shape == (24, 256, 256, 3) and item["frames"].dtype == np.uint8
        assert item["identity_frame"].shape == (256, 256, 3)
        assert item["mfcc"].shape == (24, 12, 20) and item["mfcc"].dtype == np.float32
        ref = reference_windows(sample, "mfcc_davs")
        assert ref.valid[idx].all()
        np.testing.assert_array_equal(item["mfcc"], ref.windows[idx].transpose(0, 2, 1))
        assert np.array_equal(idx, np.arange(idx[0], idx[0] + 24))
        # the official augmentation: one flip and one 256 crop of the stored 260 per clip
        x0, y0, size = item["crop_box"].tolist()
        assert size == 256 and 0 <= x0 <= 4 and 0 <= y0 <= 4
        crops = decode_stream(sample.fields, "crop256")
        assert crops.shape[1:3] == (260, 260)
        if item["flip"]:
            crops = crops[:, :, ::-1]
        crops = crops[:, y0 : y0 + 256, x0 : x0 + 256]
        np.testing.assert_array_equal(item["frames"], crops[idx])
        k = item["identity_index"]
        np.testing.assert_array_equal(item["identity_frame"], crops[k])
        assert sample.array("face_ok")[k] and sample.array("face_ok")[idx].all()
        assert item["word_id"] == -1 and item["person_id"] == -1  # the demo has neither
        assert item["frames"].std() > 10  # a real face, not a blank frame
    # the draws cover flips and offsets over the range the official loader uses
    draws = [DavsView()(demo_samples[0], rng(i))[0] for i in range(12)]
    assert {d["flip"] for d in draws} == {False, True}
    assert len({tuple(d["crop_box"][:2]) for d in draws}) > 3
    # evaluation mode: the first usable window, the centre crop, no flip
    (first,) = DavsView(DavsConfig(random_start=False, augment=False))(demo_samples[0], rng())
    assert first["crop_box"].tolist() == [2, 2, 256] and not first["flip"]
    ok = reference_windows(demo_samples[0], "mfcc_davs").valid & demo_samples[0].array("face_ok")
    assert first["frame_index"][0] == valid_starts(ok, 24)[0]
    assert not reference_windows(demo_samples[0], "mfcc_davs").valid[0]  # frame 0 never valid


def test_davs_identity_view(identity_build, demo_samples):
    view = DavsIdentityView()
    samples = list(iter_samples(identity_build))
    assert samples and all(s.kind == "identity" for s in samples)
    for sample in samples:
        (item,) = view(sample, rng())
        assert item["image"].shape == (256, 256, 3) and item["image"].dtype == np.uint8
        assert item["person_id"] == sample.labels["person_id"] >= 0
        crops = decode_stream(sample.fields, "crop256")[:, 2:258, 2:258]  # centre of 260
        np.testing.assert_array_equal(item["image"], crops[item["image_index"]])
    assert view(demo_samples[0], rng()) == [] and view.skipped["kind_clip"] == 1


def test_cran_view_sequence_reference_and_mismatch(demo_samples):
    view = CranView(CranConfig(seq_len=20))
    shifts = 0
    for sample in demo_samples:
        (item,) = view(sample, rng(1))
        idx = item["frame_index"]
        face = sample.meta["face"]
        run = range(face["good_run_start"], face["good_run_start"] + face["good_run_length"])
        assert idx[0] in run and idx[-1] in run and item["reference_index"] in run
        assert item["frames"].shape == (20, 112, 112, 3)
        assert item["reference"].shape == (112, 112, 3)
        ref = reference_windows(sample, "mfcc_cran")
        assert item["mfcc"].shape == (20, 12, 35) and item["mfcc"].dtype == np.float32
        np.testing.assert_array_equal(item["mfcc"], ref.windows[idx].transpose(0, 2, 1))
        crops = decode_stream(sample.fields, "crop112")
        np.testing.assert_array_equal(item["frames"], crops[idx])
        np.testing.assert_array_equal(item["reference"], crops[item["reference_index"]])
        d = item["mismatch_shift"]
        mm = item["mfcc_mismatch"]
        if d:
            shifts += 1
            assert abs(d) >= 9 and ref.valid[idx + d].all()
            np.testing.assert_array_equal(mm, ref.windows[idx + d].transpose(0, 2, 1))
        for t in range(20):  # never the frame's own audio
            assert not np.array_equal(mm[t], item["mfcc"][t])
    assert shifts == len(demo_samples)  # every demo clip is long enough to shift
    shuffled = CranView(CranConfig(seq_len=20, mismatch="shuffle"))
    (item,) = shuffled(demo_samples[0], rng())
    assert item["mismatch_shift"] == 0
    rows = [r.tobytes() for r in item["mfcc"]]
    assert sorted(r.tobytes() for r in item["mfcc_mismatch"]) == sorted(rows)
    assert all(a.tobytes() != b for a, b in zip(item["mfcc_mismatch"], rows, strict=True))
    long = CranView(CranConfig(seq_len=200))  # longer than every demo clip
    assert all(long(s, rng()) == [] for s in demo_samples)
    assert long.skipped["too_short"] == len(demo_samples)


def test_dvae_segments(demo_samples, demo_build):
    ids = sequence_ids(demo_build)
    assert sorted(ids.values()) == list(range(6))
    view = DvaeSegmentView(DvaeConfig(sequence_ids=ids))
    total = 0
    for sample in demo_samples:
        items = view(sample, rng())
        ref = reference_windows(sample, "logspec_dvae")
        assert [it["frame_index"] for it in items] == list(np.nonzero(ref.valid)[0])
        visemes = np.load(io.BytesIO(sample.fields["viseme_ids_25fps.npy"]))
        for it in items:
            assert it["segment"].shape == (20, 200) and it["segment"].dtype == np.float32
            np.testing.assert_array_equal(it["segment"], ref.windows[it["frame_index"]])
            assert it["viseme_id"] == visemes[it["frame_index"]] and 0 <= it["viseme_id"] <= 20
            assert it["emotion_id"] == 4  # NEU: the demo's label (DVAE's default too)
            assert it["sequence_id"] == ids[sample.key] and np.isnan(it["noise_db"])
            # dB: FHVAE's floor is -400; |X| <= sum(sqrt Hann(400)) = 254.6, i.e. 48.1 dB
            assert -400.0 <= it["segment"].min() and it["segment"].max() < 48.2
        total += len(items)
        assert len({it["viseme_id"] for it in items}) > 3  # real speech: several visemes
    assert total > 300
    noisy = DvaeSegmentView(DvaeConfig(noise_db=-30))
    s = demo_samples[0]
    items = noisy(s, rng())
    ref = reference_windows(s, "logspec_dvae", "logspec_dvae_noise-30db")
    clean = reference_windows(s, "logspec_dvae")
    it = items[3]
    np.testing.assert_array_equal(it["segment"], ref.windows[it["frame_index"]])
    assert it["noise_db"] == -30.0
    assert not np.array_equal(it["segment"], clean.windows[it["frame_index"]])
    mixed = DvaeSegmentView(DvaeConfig(noise_db=(None, -30.0)))
    levels = {str(mixed(x, rng(i))[0]["noise_db"]) for i, x in enumerate(demo_samples * 3)}
    assert levels == {"nan", "-30.0"}
    unlabelled = _without(s, meta=dict(s.meta, labels={}))  # the demo's clips say NEU
    few = DvaeSegmentView(DvaeConfig(segments_per_clip=5, default_emotion=None))(unlabelled, rng())
    assert len(few) == 5 and all(it["emotion_id"] == -1 for it in few)


def test_dvae_emotion_labels_and_faces_from_jpeg_crops(cremad_build):
    (sample,) = list(iter_samples(cremad_build, splits="val"))  # the clip pocketsphinx aligns
    assert sample.labels["emotion"] == "HAP" and sample.stream_format("crop256") == "jpg"
    items = DvaeSegmentView()(sample, rng())
    assert items and all(it["emotion_id"] == 3 for it in items)  # HAP in CREMA-D's order
    view = DvaeFaceView(DvaeConfig(seq_len=8))
    (item,) = view(sample, rng())
    idx = item["frame_index"]
    crops = decode_stream(sample.fields, "crop256")[:, 2:258, 2:258]  # centre of the 260 crop
    np.testing.assert_array_equal(item["frames"], crops[idx])
    np.testing.assert_array_equal(item["reference"], crops[item["reference_index"]])
    assert item["crop_box"].tolist() == [2, 2, 256] and not item["flip"]
    ref = reference_windows(sample, "logspec_dvae")
    np.testing.assert_array_equal(item["segments"], ref.windows[idx])
    lm = np.load(io.BytesIO(sample.fields["landmarks_crop256.npy"]))[idx, 48:68]
    np.testing.assert_array_equal(item["mouth_landmarks"], lm)
    assert item["mouth_landmarks"].shape == (8, 20, 2)
    assert (item["mouth_landmarks"] > 0).all() and (item["mouth_landmarks"] < 256).all()
    assert item["viseme_ids"].shape == (8,) and item["emotion_id"] == 3


def test_split_and_selection_filters(demo_build, cremad_build, tmp_path):
    assert [s.split for s in iter_samples(cremad_build)] == ["val"]
    assert list(iter_samples(cremad_build, splits="train")) == []
    keys = sorted(s.key for s in iter_samples(demo_build))
    table = pa.table({"key": keys, "selected": [i % 2 == 0 for i in range(len(keys))]})
    pq.write_table(table, tmp_path / "selection.parquet")
    chosen = selected_keys(tmp_path)
    assert chosen == set(keys[::2])
    assert sorted(s.key for s in iter_samples(demo_build, keys=chosen)) == keys[::2]


def _without(sample: ShardSample, *members: str, meta: dict | None = None) -> ShardSample:
    fields = {k: v for k, v in sample.fields.items() if k not in members}
    if meta is not None:
        fields["json"] = json.dumps(meta).encode()
    return ShardSample.from_fields(sample.key, fields, "x.tar")


def test_errors_name_the_field_and_the_build_option(demo_samples):
    s = demo_samples[0]
    meta = dict(s.meta, schema_version=2)
    with pytest.raises(SchemaError, match="schema_version 2.*rebuild"):
        _without(s, meta=meta)
    meta = {k: v for k, v in s.meta.items() if k != "n_frames"}
    with pytest.raises(SchemaError, match="n_frames"):
        _without(s, meta=meta)
    af = {k: v for k, v in s.meta["audio_features"].items() if k != "mfcc_cran"}
    meta = dict(s.meta, audio_features=af)
    no_cran = _without(s, "mfcc_cran.npy", "mfcc_cran_valid.npy", meta=meta)
    with pytest.raises(MissingFieldError, match=r"mfcc_cran missing .*--features mfcc_cran"):
        CranView(CranConfig(seq_len=10))(no_cran, rng())
    with pytest.raises(MissingFieldError, match=r"crop112 missing .*--face-backend dlib"):
        CranView(CranConfig(seq_len=10))(_without(s, "crop112.mp4"), rng())
    with pytest.raises(MissingFieldError, match=r"viseme_ids_25fps missing .*--aligner"):
        DvaeSegmentView()(_without(s, "viseme_ids_25fps.npy"), rng())
    with pytest.raises(MissingFieldError, match=r"_dvae_noise-10db missing .*--noise-db -10"):
        DvaeSegmentView(DvaeConfig(noise_db=-10))(s, rng())
    with pytest.raises(MissingFieldError, match="sequence_ids"):
        DvaeSegmentView(DvaeConfig(sequence_ids={}))(s, rng())
