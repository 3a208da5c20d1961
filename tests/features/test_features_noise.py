"""DVAE white-noise augmentation: exact level, deterministic per (clip key, seed)."""

from __future__ import annotations

import numpy as np
import pytest

from avprep.features.noise import add_white_noise, noise_track_name, white_noise


@pytest.mark.parametrize("level", [-60.0, -30.0, -10.0, -3.5, 0.0, 6.0])
def test_noise_power_is_exactly_the_level_below_the_signal(speech, level):
    noisy = add_white_noise(speech, level, key="lrw/ABOUT_00001", seed=0)
    assert noisy.dtype == np.float32 and noisy.shape == speech.shape
    noise = noisy.astype(np.float64) - speech.astype(np.float64)
    ratio_db = 10 * np.log10(np.mean(noise**2) / np.mean(speech.astype(np.float64) ** 2))
    assert abs(ratio_db - level) < 0.01  # float32 rounding of the sum only
    # white and uniform: flat spectrum, bounded, zero mean
    u = white_noise(len(speech), "lrw/ABOUT_00001", 0)
    assert u.min() >= -1 and u.max() < 1 and abs(u.mean()) < 0.01
    hist, _ = np.histogram(u, bins=10, range=(-1, 1))
    assert hist.min() > 0.9 * len(u) / 10
    spec = np.abs(np.fft.rfft(u)) ** 2
    low, high = spec[1 : len(spec) // 2].mean(), spec[len(spec) // 2 :].mean()
    assert 0.9 < low / high < 1.1


def test_deterministic_per_key_and_seed(speech):
    a = add_white_noise(speech, -30, key="clip/a", seed=0)
    np.testing.assert_array_equal(a, add_white_noise(speech, -30, key="clip/a", seed=0))
    assert not np.array_equal(a, add_white_noise(speech, -30, key="clip/b", seed=0))
    assert not np.array_equal(a, add_white_noise(speech, -30, key="clip/a", seed=1))
    # the same realisation at every level (only its scale changes): levels are comparable
    n30 = a.astype(np.float64) - speech
    n10 = add_white_noise(speech, -10, key="clip/a", seed=0).astype(np.float64) - speech
    corr = np.corrcoef(n30, n10)[0, 1]
    assert corr > 0.999


def test_silence_gets_no_noise_and_bad_levels_are_refused():
    silent = np.zeros(1000, dtype=np.float32)
    np.testing.assert_array_equal(add_white_noise(silent, -10, key="k"), silent)
    assert add_white_noise(np.zeros(0, dtype=np.float32), -10, key="k").shape == (0,)
    with pytest.raises(ValueError):
        add_white_noise(silent + 0.1, float("nan"), key="k")


def test_noise_track_names_have_no_dots():
    assert noise_track_name("logspec_dvae", -30) == "logspec_dvae_noise-30db"
    assert noise_track_name("mfcc_davs", -60.0) == "mfcc_davs_noise-60db"
    assert noise_track_name("mfcc_davs", -12.5) == "mfcc_davs_noise-12p5db"
    assert noise_track_name("mfcc_davs", 3) == "mfcc_davs_noise3db"
