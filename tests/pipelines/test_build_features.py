"""Audio feature tracks inside `avprep build`: the tracks, noise copies, user configs."""

from __future__ import annotations

import io
import json

import numpy as np
import soundfile as sf
from click.testing import CliRunner

from avprep.cli import main
from avprep.features import frame_windows, get_feature_config
from avprep.features.config import parse_feature_configs
from avprep.features.mfcc import mfcc_htk
from avprep.features.noise import add_white_noise
from avprep.features.tracks import compute_track, track_timing
from avprep.shards import iter_shard


def _first_sample(out):
    with open(next((out / "shards").glob("*.tar")), "rb") as f:
        return next(iter_shard(f))


def test_feature_tracks_noise_and_user_config_land_in_samples(tmp_path, demo_corpus):
    cfg = tmp_path / "features.json"
    cfg.write_text(
        json.dumps(
            [{"name": "mfcc_davs_padded", "base": "mfcc_davs", "window": {"edge": "pad_edge"}}]
        )
    )
    out = tmp_path / "b"
    r = CliRunner().invoke(
        main,
        [
            "build",
            "folder",
            "--root",
            str(demo_corpus),
            "--out",
            str(out),
            "--limit",
            "2",
            "--aligner",
            "none",
            "--features",
            "mfcc_davs,logspec_dvae,mfcc_davs_padded",
            "--feature-config",
            str(cfg),
            "--noise-db",
            "-30",
            "--noise-db",
            "-10",
            "--noise-features",
            "logspec_dvae",
            "--no-progress",
            "--face-backend",
            "none",
        ],
    )
    assert r.exit_code == 0, r.output
    key, fields = _first_sample(out)
    meta = json.loads(fields["json"])
    audio, _ = sf.read(io.BytesIO(fields["flac"]), dtype="float32")
    # every stored track is recomputable bit for bit from the shard's own 16-bit FLAC
    davs = np.load(io.BytesIO(fields["mfcc_davs.npy"]))
    again = mfcc_htk(audio, get_feature_config("mfcc_davs"))
    assert davs.shape == again.shape and davs.shape[1] == 12
    np.testing.assert_array_equal(davs, again)
    user = parse_feature_configs(json.loads(cfg.read_text()))
    for name in ("mfcc_davs", "logspec_dvae", "mfcc_davs_padded"):
        config = get_feature_config(name, user)
        stored = np.load(io.BytesIO(fields[f"{name}.npy"]))
        np.testing.assert_array_equal(stored, compute_track(audio, config), err_msg=name)
    for level in (-30.0, -10.0):
        name = f"logspec_dvae_noise{int(level)}db"
        noisy = np.load(io.BytesIO(fields[f"{name}.npy"]))
        seed = meta["audio_features"][name]["noise_seed"]
        recomputed = compute_track(
            add_white_noise(audio, level, key, seed), get_feature_config("logspec_dvae")
        )
        np.testing.assert_array_equal(noisy, recomputed, err_msg=name)
    assert "mfcc_davs_noise-30db.npy" not in fields
    valid = np.load(io.BytesIO(fields["mfcc_davs_valid.npy"]))
    padded_valid = np.load(io.BytesIO(fields["mfcc_davs_padded_valid.npy"]))
    assert len(valid) == meta["n_frames"] and not valid.all() and padded_valid.all()
    cfg = get_feature_config("mfcc_davs")
    usable = tuple(meta["audio_features"]["mfcc_davs"]["usable_steps"])
    fw = frame_windows(davs, meta["n_frames"], 25.0, cfg.window, track_timing(cfg), usable)
    windows, ok = fw.windows, fw.valid
    assert windows.shape == (meta["n_frames"], 20, 12) and (ok == valid).all()
    assert "mfcc_davs_padded" in meta["audio_features"]


def test_features_none_stores_no_tracks(tmp_path, demo_corpus):
    out = tmp_path / "b"
    r = CliRunner().invoke(
        main,
        [
            "build",
            "folder",
            "--root",
            str(demo_corpus),
            "--out",
            str(out),
            "--limit",
            "1",
            "--features",
            "none",
            "--aligner",
            "none",
            "--no-progress",
            "--face-backend",
            "none",
        ],
    )
    assert r.exit_code == 0, r.output
    _, fields = _first_sample(out)
    assert not [f for f in fields if f.endswith(".npy")]
