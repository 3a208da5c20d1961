"""SyncNet/CRAN MFCC against python_speech_features; the DVAE spectrogram against the FHVAE
recipe written with librosa and as an explicit DFT from its parameters."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import python_speech_features as psf
import scipy.signal

from avprep.features.config import FEATURE_CONFIGS
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


def _fhvae_spec_librosa(wave: np.ndarray) -> np.ndarray:
    """The FHVAE recipe (make_spec.sh: fn=400, sn=160, fft=400, awin=None -> sqrt of the
    periodic Hann, log_floor=-20, decom=mp; --remove_0th True) written with librosa.

    ``librosa.stft(center=False)`` frames start at 160 t, as FHVAE's ``frame_starts_n``."""
    y = wave.astype(np.float64)  # FHVAE reads the wav with soundfile: float in [-1, 1]
    win = np.sqrt(scipy.signal.get_window("hann", 400, fftbins=True))
    spec = librosa.stft(y, n_fft=400, hop_length=160, win_length=400, window=win, center=False)
    with np.errstate(divide="ignore"):
        dbmag = np.log10(np.abs(spec))
    dbmag[dbmag < -20] = -20
    return (20 * dbmag)[1:].T  # remove the 0th (DC) bin: 200 bins


def test_logspec_equals_the_fhvae_recipe_via_librosa(speech_clips):
    for x in speech_clips:
        ref = _fhvae_spec_librosa(x)
        ours = log_spectrogram(x, DVAE)
        assert ref.shape == ((len(x) - 400) // 160 + 1, 200)
        assert ours.shape == ref.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-3)  # dB, float32 output


def test_logspec_equals_an_stft_written_from_the_formulas(speech):
    x = speech[:16000].astype(np.float64)
    n = np.arange(400)
    window = np.sqrt(0.5 * (1 - np.cos(2 * np.pi * n / 400)))  # FHVAE's hann(), then sqrt
    steps = (len(x) - 400) // 160 + 1
    frames = np.stack([x[160 * t : 160 * t + 400] for t in range(steps)])  # no centring
    k = np.arange(1, 201)  # bins 1 .. 200: DC removed, Nyquist kept
    dft = np.exp(-2j * np.pi * np.outer(n, k) / 400)  # explicit 400-point DFT
    ref = 20 * np.maximum(np.log10(np.abs((frames * window) @ dft)), -20.0)
    ours = log_spectrogram(x, DVAE)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-3)
    # the step-t frame is samples [160 t, 160 t + 400): moving one sample changes it
    shifted = log_spectrogram(x[1:], DVAE)
    assert np.abs(shifted[: len(ref) - 1] - ref[: len(ref) - 1]).max() > 1.0


@pytest.mark.parametrize("name", ["mfcc_syncnet", "mfcc_cran", "logspec_dvae"])
def test_silence_is_finite(name):
    out = compute_track(np.zeros(8000, dtype=np.float32), FEATURE_CONFIGS[name])
    assert out.shape[0] > 0 and np.all(np.isfinite(out))
    if name == "logspec_dvae":
        np.testing.assert_array_equal(out, -400.0)  # FHVAE's floor: 20 * (log10 floor -20)


@pytest.mark.parametrize("name", ["mfcc_syncnet", "mfcc_cran", "logspec_dvae"])
def test_shorter_than_one_window_gives_an_empty_track(name):
    cfg = FEATURE_CONFIGS[name]
    out = compute_track(np.ones(cfg.win_length - 1, dtype=np.float32) * 0.1, cfg)
    assert out.shape == (0, cfg.dim) and out.dtype == np.float32
    one = compute_track(np.ones(cfg.win_length, dtype=np.float32) * 0.1, cfg)
    assert one.shape[0] >= 1 and np.all(np.isfinite(one))
