"""The named configs, the registry and user configs from JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from avprep.features.config import (
    FEATURE_CONFIGS,
    HtkMfccConfig,
    LogSpecConfig,
    PsfMfccConfig,
    config_from_dict,
    config_to_dict,
    get_feature_config,
    load_feature_configs,
)
from avprep.features.tracks import compute_track


def test_the_four_paper_configs_are_registered():
    expected = {
        "mfcc_davs": (HtkMfccConfig, 12, 20),
        "mfcc_syncnet": (PsfMfccConfig, 13, 20),
        "mfcc_cran": (PsfMfccConfig, 12, 35),
        "logspec_dvae": (LogSpecConfig, 200, 20),
    }
    for name, (cls, dim, width) in expected.items():
        cfg = FEATURE_CONFIGS[name]
        assert isinstance(cfg, cls) and cfg.name == name
        assert cfg.dim == dim and cfg.window.width == width
        assert cfg.description
        assert cfg.sample_rate / cfg.hop_length == 100.0  # 100 Hz tracks


def test_config_round_trips_through_json():
    for cfg in FEATURE_CONFIGS.values():
        data = json.loads(json.dumps(config_to_dict(cfg)))
        assert config_from_dict(data) == cfg


def test_user_configs_from_json_file(tmp_path, speech):
    path = tmp_path / "features.json"
    path.write_text(json.dumps([
        {"name": "mfcc_davs_padded", "base": "mfcc_davs", "window": {"edge": "pad_edge"}},
        {"name": "mfcc_davs_26", "base": "mfcc_davs", "n_mels": 26, "fmax": 8000},
        {"name": "logspec_257", "kind": "logspec", "n_fft": 512, "n_bins": 257, "first_bin": 0,
         "window": {"width": 10, "anchor": "center"}},
        {"name": "mfcc_hamming", "base": "mfcc_syncnet", "hamming": True},
    ]))
    configs = load_feature_configs(path)
    assert list(configs) == ["mfcc_davs_padded", "mfcc_davs_26", "logspec_257", "mfcc_hamming"]
    padded = configs["mfcc_davs_padded"]
    assert padded.window.edge == "pad_edge" and padded.window.offset == -8  # merged
    assert padded.n_mels == 13
    assert configs["mfcc_davs_26"].n_mels == 26 and configs["mfcc_davs_26"].fmax == 8000
    spec = configs["logspec_257"]
    assert spec.dim == 257 and spec.window.width == 10 and spec.window.edge == "invalid"
    assert compute_track(speech[:8000], spec).shape == (48, 257)  # (8000 - 400) // 160 + 1
    # an extra config is looked up before the registry; the registry is untouched
    assert get_feature_config("mfcc_davs_26", configs).n_mels == 26
    assert "mfcc_davs_26" not in FEATURE_CONFIGS
    assert not np.allclose(compute_track(speech[:8000], configs["mfcc_hamming"]),
                           compute_track(speech[:8000], FEATURE_CONFIGS["mfcc_syncnet"]))


def test_json_mapping_form_and_chained_bases(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"configs": [
        {"name": "a", "base": "mfcc_cran", "numcep": 14},
        {"name": "b", "base": "a", "window": {"width": 7}},
    ]}))
    configs = load_feature_configs(path)
    assert configs["b"].numcep == 14 and configs["b"].dim == 13 and configs["b"].window.width == 7
    path.write_text(json.dumps({"c": {"kind": "mfcc_htk", "n_ceps": 5}}))
    assert load_feature_configs(path)["c"].dim == 4


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "bad.name", "base": "mfcc_davs"}, "no dots"),
        ({"name": "x", "base": "mfcc_davs", "n_melz": 3}, "unknown field"),
        ({"name": "x", "kind": "wavelet"}, "'kind' must be one of"),
        ({"name": "x", "base": "nope"}, "unknown feature config"),
        ({"name": "x", "base": "mfcc_davs", "window": {"edge": "wrap"}}, "edge"),
        ({"name": "x", "base": "mfcc_davs", "window": {"widht": 3}}, "unknown window field"),
        ({"name": "x", "base": "mfcc_davs", "kind": "logspec"}, "differs from its base"),
        ({"name": "x", "kind": "logspec", "n_bins": 300}, "n_bins"),
        ({"base": "mfcc_davs"}, "without a 'name'"),
    ],
)
def test_bad_user_configs_are_refused_with_a_reason(tmp_path, entry, message):
    path = tmp_path / "f.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises((ValueError, KeyError), match=message):
        load_feature_configs(path)
