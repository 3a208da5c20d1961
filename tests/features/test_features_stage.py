"""AudioFeatureStage on a ClipWork: arrays, masks, noisy tracks, metadata, rejections."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avprep.clips import ClipRef, ClipRejected, ClipWork, DecodedMedia
from avprep.features.config import FEATURE_CONFIGS, get_feature_config, load_feature_configs
from avprep.features.noise import add_white_noise
from avprep.features.stage import AudioFeatureStage
from avprep.features.tracks import compute_track
from avprep.stages import Stage
from tests.features.speech_sample import speech_sample


def make_work(audio: np.ndarray, key: str = "demo/clip_0001") -> ClipWork:
    n_frames = len(audio) // 640
    audio = audio[: n_frames * 640]
    media = DecodedMedia(
        frames=np.zeros((n_frames, 4, 4, 3), dtype=np.uint8),
        timestamps=np.arange(n_frames) / 25.0,
        audio=audio.astype(np.float32),
        fps=25.0,
        sample_rate=16000,
        source_fps=25.0,
        source_size=(4, 4),
        av_offset=0.0,
    )
    ref = ClipRef(key=key, dataset="demo", split="train", source="clip_0001.mp4")
    return ClipWork(ref=ref, media=media)


def test_stage_writes_tracks_masks_and_meta(speech):
    stage = AudioFeatureStage(noise_levels_db=(-60, -30, -10), seed=3)
    assert isinstance(stage, Stage)
    stage.setup()
    work = make_work(speech)
    n_frames = work.media.n_frames
    stage.process(work)

    meta = work.meta["audio_features"]
    json.dumps(meta)  # JSON-ready for the sample's metadata
    for name in ("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"):
        cfg = FEATURE_CONFIGS[name]
        track = work.arrays[name]
        assert track.dtype == np.float32 and track.shape[1] == cfg.dim
        np.testing.assert_array_equal(track, compute_track(work.media.audio, cfg))
        valid = work.arrays[f"{name}_valid"]
        assert valid.dtype == bool and valid.shape == (n_frames,)
        # only frames at the clip edges are invalid (CRAN: 4 + 4 of its 350 ms windows)
        assert valid.sum() >= n_frames - 8 and valid[n_frames // 2]
        assert not valid[0]  # every convention reaches before the first frame
        m = meta[name]
        assert m["shape"] == list(track.shape) and m["valid_key"] == f"{name}_valid"
        assert m["n_valid"] == int(valid.sum()) and m["timing"]["rate_hz"] == 100.0
        assert m["window"]["width_steps"] == cfg.window.width
        for level, tag in ((-60, "-60"), (-30, "-30"), (-10, "-10")):
            noisy_name = f"{name}_noise{tag}db"
            assert "." not in noisy_name
            noisy = work.arrays[noisy_name]
            assert noisy.shape == track.shape and noisy.dtype == np.float32
            expected = compute_track(add_white_noise(work.media.audio, level, work.ref.key, 3), cfg)
            np.testing.assert_array_equal(noisy, expected)
            assert meta[noisy_name]["noise_db"] == level
            assert meta[noisy_name]["valid_key"] == f"{name}_valid"
    assert meta["mfcc_davs"]["window"]["span_rel_s_min"] == [-0.08, 0.135]
    assert meta["mfcc_davs"]["window"]["span_rel_s_max"] == [-0.08, 0.135]
    # louder noise moves the features further from the clean ones
    d = [
        np.abs(work.arrays[f"logspec_dvae_noise{t}db"] - work.arrays["logspec_dvae"]).mean()
        for t in ("-60", "-30", "-10")
    ]
    assert d[0] < d[1] < d[2]


def test_stage_selected_features_noise_subset_and_user_config(tmp_path, speech):
    path = tmp_path / "f.json"
    path.write_text(
        json.dumps([{"name": "mfcc_davs_pad", "base": "mfcc_davs", "window": {"edge": "pad_edge"}}])
    )
    extra = load_feature_configs(path)
    stage = AudioFeatureStage(
        features=("mfcc_davs_pad", "logspec_dvae"),
        noise_levels_db=(-30,),
        extra_configs=extra,
        noise_features=("logspec_dvae",),
    )
    work = make_work(speech[: 29 * 640])
    stage.process(work)
    assert set(work.arrays) == {
        "mfcc_davs_pad",
        "mfcc_davs_pad_valid",
        "logspec_dvae",
        "logspec_dvae_valid",
        "logspec_dvae_noise-30db",
    }
    # padded convention: every frame valid, the padding is recorded
    assert work.arrays["mfcc_davs_pad_valid"].all()
    assert work.meta["audio_features"]["mfcc_davs_pad"]["n_padded_frames"] == 5
    assert work.meta["audio_features"]["mfcc_davs_pad"]["config"]["window"]["edge"] == "pad_edge"


def test_stage_silent_and_one_frame_clips():
    stage = AudioFeatureStage(noise_levels_db=(-10,))
    work = make_work(np.zeros(40 * 640, dtype=np.float32))
    stage.process(work)
    for name, arr in work.arrays.items():
        if not name.endswith("_valid"):
            assert np.all(np.isfinite(arr)), name
    # one video frame = 640 samples: tracks exist, but no window fits
    work = make_work(np.full(640, 0.1, dtype=np.float32))
    stage.process(work)
    for name in ("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"):
        assert work.arrays[f"{name}_valid"].tolist() == [False]
        assert work.arrays[name].shape[0] >= 1


def test_stage_rejections():
    stage = AudioFeatureStage()
    work = make_work(np.zeros(640, dtype=np.float32))
    work.media.audio = work.media.audio[:300]  # shorter than a 400-sample analysis window
    with pytest.raises(ClipRejected) as e:
        stage.process(work)
    assert e.value.reason == "audio_too_short"
    work = make_work(np.zeros(6400, dtype=np.float32))
    work.media.sample_rate = 8000
    with pytest.raises(ClipRejected, match="bad_sample_rate"):
        stage.process(work)
    work = make_work(np.zeros(6400, dtype=np.float32))
    work.media.audio[5] = np.nan
    with pytest.raises(ClipRejected, match="bad_audio"):
        stage.process(work)
    with pytest.raises(ClipRejected, match="no_audio"):
        stage.process(ClipWork(ref=make_work(np.zeros(640)).ref))


def test_stage_configuration_errors_and_versions():
    with pytest.raises(KeyError, match="unknown feature config"):
        AudioFeatureStage(features=("mfcc_nope",))
    with pytest.raises(ValueError, match="duplicate noise levels"):
        AudioFeatureStage(noise_levels_db=(-30, -30.0))
    with pytest.raises(ValueError, match="not among the features"):
        AudioFeatureStage(features=("mfcc_davs",), noise_features=("logspec_dvae",))
    versions = AudioFeatureStage().versions()
    assert {"librosa", "python_speech_features", "numpy", "scipy"} <= set(versions)


def test_tracks_recompute_bit_identically_from_the_stored_flac():
    """Quantised once: every track (and noisy copy) = the track of the shard's own FLAC."""
    names = ("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae")
    # gain 0.7: float samples off the 16-bit grid, as decoded/resampled audio is
    sample = speech_sample("librivox_ss01_0930", names, noise_levels_db=(-30.0,), gain=0.7)
    audio = sample.audio()  # decoded from the 16-bit FLAC member
    assert np.array_equal(np.rint(audio * 32768) / 32768, audio)  # on the int16 grid
    for name in names:
        config = get_feature_config(name)
        np.testing.assert_array_equal(sample.array(name), compute_track(audio, config), name)
        noisy = sample.meta["audio_features"][f"{name}_noise-30db"]
        seed = noisy["noise_seed"]
        again = compute_track(add_white_noise(audio, -30.0, sample.key, seed), config)
        np.testing.assert_array_equal(sample.array(f"{name}_noise-30db"), again, name)
