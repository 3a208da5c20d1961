"""SyncNet/CRAN MFCC against python_speech_features, DVAE log-spectrogram against librosa's
STFT and against an STFT written from the formulas."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import python_speech_features as psf

from avprep.features.configs import FEATURE_CONFIGS
from avprep.features.mfcc import mfcc_psf
from avprep.features.spectrogram import log_spectrogram
from avprep.features.tracks import compute_track

SYNCNET = FEATURE_CONFIGS["mfcc_syncnet"]
CRAN = FEATURE_CONFIGS["mfcc_cran"]
DVAE = FEATURE_CONFIGS["logspec_dvae"]


def test_syncnet_equals_python_speech_features_defaults(speech_clips):
    for x in speech_clips:
        # syncnet_python: wavfile.read gives int16 samples, passed to psf.mfcc(audio, 16000)
        int16 = np.round(x.astype(np.float64) * 32768).astype(np.int16)
        ref = psf.mfcc(int16, 16000)
        ours = mfcc_psf(int16.astype(np.float32) / 32768, SYNCNET)
        assert ours.shape == ref.shape == (1 + int(np.ceil((len(x) - 400) / 160)), 13)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4)


def test_syncnet_config_is_psf_defaults():
    assert (SYNCNET.winlen, SYNCNET.winstep, SYNCNET.numcep, SYNCNET.nfilt) == (0.025, 0.01, 13, 26)
    assert (SYNCNET.nfft, SYNCNET.lowfreq, SYNCNET.highfreq) == (512, 0.0, None)
    assert (SYNCNET.preemph, SYNCNET.ceplifter, SYNCNET.append_energy) == (0.97, 22, True)
    assert SYNCNET.keep_from == 0 and SYNCNET.dim == 13 and not SYNCNET.hamming


def test_cran_is_psf_with_20ms_windows_and_first_coefficient_removed(speech):
    ref = psf.mfcc(speech.astype(np.float64) * 32768, 16000, winlen=0.02, winstep=0.01)
    ours = compute_track(speech, CRAN)
    assert ours.shape == (ref.shape[0], 12)
    np.testing.assert_allclose(ours, ref[:, 1:], rtol=1e-5, atol=1e-4)
    assert CRAN.window.width == 35  # 35 x 12 per video frame = 350 ms of 10 ms steps


def _fhvae_rstft(y: np.ndarray) -> np.ndarray:
    """FHVAE's ``rstft`` (audio_utils.py) with its defaults, on today's librosa."""
    y = y.astype(np.float64)
    y = y - 0.97 * np.concatenate([[0], y[:-1]], 0)
    spec = np.abs(librosa.stft(y, n_fft=400, hop_length=160, win_length=400, window="hamming",
                               center=True, pad_mode="reflect"))
    with np.errstate(divide="ignore"):
        spec = np.log(spec)
    spec[spec < -50] = -50
    return spec


def test_logspec_equals_librosa_stft_recipe(speech):
    ref = _fhvae_rstft(speech)
    ours = log_spectrogram(speech, DVAE)
    assert ref.shape == (201, 1 + len(speech) // 160)
    assert ours.shape == (ref.shape[1], 200) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref[:200].T, rtol=1e-5, atol=1e-4)


def test_logspec_equals_an_stft_written_from_the_formulas(speech):
    x = speech[:16000].astype(np.float64)
    y = np.empty_like(x)
    y[0] = x[0]
    y[1:] = x[1:] - 0.97 * x[:-1]
    padded = np.pad(y, 200, mode="reflect")  # centre: step j is centred on sample 160 j
    n = np.arange(400)
    periodic_hamming = 0.54 - 0.46 * np.cos(2 * np.pi * n / 400)
    steps = 1 + len(x) // 160
    frames = np.stack([padded[160 * j: 160 * j + 400] for j in range(steps)])
    k = np.arange(200)
    dft = np.exp(-2j * np.pi * np.outer(n, k) / 400)  # explicit DFT, bins 0..199
    ref = np.maximum(np.log(np.abs((frames * periodic_hamming) @ dft)), -50.0)
    np.testing.assert_allclose(log_spectrogram(x, DVAE), ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", ["mfcc_syncnet", "mfcc_cran", "logspec_dvae"])
def test_silence_is_finite(name):
    out = compute_track(np.zeros(8000, dtype=np.float32), FEATURE_CONFIGS[name])
    assert out.shape[0] > 0 and np.all(np.isfinite(out))
    if name == "logspec_dvae":
        np.testing.assert_array_equal(out, -50.0)  # the explicit log floor


@pytest.mark.parametrize("name", ["mfcc_syncnet", "mfcc_cran", "logspec_dvae"])
def test_shorter_than_one_window_gives_an_empty_track(name):
    cfg = FEATURE_CONFIGS[name]
    out = compute_track(np.ones(cfg.win_length - 1, dtype=np.float32) * 0.1, cfg)
    assert out.shape == (0, cfg.dim) and out.dtype == np.float32
    one = compute_track(np.ones(cfg.win_length, dtype=np.float32) * 0.1, cfg)
    assert one.shape[0] >= 1 and np.all(np.isfinite(one))
