"""DAVS MFCC (HTK-style MATLAB ``mfcc.m``): every step against an independent computation,
the whole against a transcription of ``mfcc.m`` and a hand-computed tiny example."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from avprep.features.config import FEATURE_CONFIGS, HtkMfccConfig
from avprep.features.mfcc import (
    frame_signal,
    hamming_symmetric,
    htk_dct_matrix,
    htk_lifter,
    htk_mel_filterbank,
    mfcc_htk,
    preemphasis,
)

DAVS = FEATURE_CONFIGS["mfcc_davs"]


# --- a line-by-line transcription of Wojcicki's mfcc.m / trifbank.m / vec2frames.m ----------
# (loops and closed forms on purpose: no librosa/scipy, so it is independent of the code
# under test)

def _hz2mel(hz):
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel2hz(mel):
    return 700.0 * np.exp(np.asarray(mel, dtype=np.float64) / 1127.0) - 700.0


def trifbank_matlab(M: int, K: int, R: tuple[float, float], fs: float) -> np.ndarray:
    f = np.linspace(0.0, 0.5 * fs, K)
    c = _mel2hz(_hz2mel(R[0]) + np.arange(M + 2) * ((_hz2mel(R[1]) - _hz2mel(R[0])) / (M + 1)))
    H = np.zeros((M, K))
    for m in range(M):  # MATLAB m = 1..M uses c(m), c(m+1), c(m+2) -> c[m], c[m+1], c[m+2]
        k = (f >= c[m]) & (f <= c[m + 1])
        H[m, k] = (f[k] - c[m]) / (c[m + 1] - c[m])
        k = (f >= c[m + 1]) & (f <= c[m + 2])
        H[m, k] = (c[m + 2] - f[k]) / (c[m + 2] - c[m + 1])
    return H


def dctm_matlab(N: int, M: int) -> np.ndarray:
    n = np.arange(N)[:, None]
    m = np.arange(1, M + 1)[None, :]
    return np.sqrt(2.0 / M) * np.cos(n * (np.pi * (m - 0.5) / M))


def ceplifter_matlab(N: int, L: int) -> np.ndarray:
    return 1.0 + 0.5 * L * np.sin(np.pi * np.arange(N) / L)


def mfcc_matlab(speech: np.ndarray, cfg: HtkMfccConfig) -> np.ndarray:
    fs = cfg.sample_rate
    speech = np.asarray(speech, dtype=np.float64)
    if np.max(np.abs(speech)) <= 1:
        speech = speech * 2**15
    Nw, Ns = cfg.win_length, cfg.hop_length
    nfft = 2 ** math.ceil(math.log2(Nw))
    assert nfft == cfg.n_fft
    K = nfft // 2 + 1
    y = np.empty_like(speech)  # filter([1 -alpha], 1, speech)
    y[0] = speech[0]
    for n in range(1, len(speech)):
        y[n] = speech[n] - cfg.preemphasis * speech[n - 1]
    L = len(y)
    M = int(math.floor((L - Nw) / Ns + 1))  # vec2frames(..., false): no padding
    idx = Ns * np.arange(M)[:, None] + np.arange(Nw)[None, :]
    hamming = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(Nw) / (Nw - 1))
    frames = y[idx] * hamming
    MAG = np.abs(np.fft.fft(frames, nfft, axis=1))[:, :K]
    H = trifbank_matlab(cfg.n_mels, K, (cfg.fmin, cfg.fmax), fs)
    FBE = MAG @ H.T
    CC = np.log(FBE) @ dctm_matlab(cfg.n_ceps, cfg.n_mels).T
    CC = CC * ceplifter_matlab(cfg.n_ceps, cfg.lifter)
    return CC


# --- steps ----------------------------------------------------------------------------------

def test_davs_config_is_the_documented_one():
    assert (DAVS.sample_rate, DAVS.win_length, DAVS.hop_length) == (16000, 400, 160)
    assert DAVS.n_fft == 512
    assert (DAVS.preemphasis, DAVS.n_mels, DAVS.fmin, DAVS.fmax) == (0.97, 13, 300.0, 3700.0)
    assert (DAVS.n_ceps, DAVS.lifter, DAVS.keep_from, DAVS.input_scale) == (13, 22, 1, 2.0**15)
    assert DAVS.dim == 12
    w = DAVS.window
    assert (w.width, w.anchor, w.offset) == (20, "start", -8)


def test_filterbank_edges_and_shapes_match_trifbank():
    H = trifbank_matlab(13, 257, (300.0, 3700.0), 16000.0)
    ours = htk_mel_filterbank(DAVS)
    assert ours.shape == (13, 257)
    np.testing.assert_allclose(ours, H, atol=1e-12)
    f = np.linspace(0, 8000, 257)
    # nothing outside 300..3700 Hz, every filter has a peak <= 1 and a non-empty support
    assert np.all(ours[:, (f < 300) | (f > 3700)] == 0)
    assert np.all(ours.max(axis=1) <= 1.0) and np.all(ours.max(axis=1) > 0.5)
    # corner frequencies: uniform on 1127 ln(1 + f/700) between 300 and 3700 Hz
    corners = _mel2hz(np.linspace(_hz2mel(300.0), _hz2mel(3700.0), 15))
    for m in range(13):
        support = f[ours[m] > 0]
        assert support.min() >= corners[m] and support.max() <= corners[m + 2]


def test_dct_and_lifter_match_mfcc_m_formulas():
    np.testing.assert_allclose(htk_dct_matrix(DAVS), dctm_matlab(13, 13), atol=1e-12)
    np.testing.assert_allclose(htk_lifter(DAVS), ceplifter_matlab(13, 22), atol=1e-12)
    assert htk_lifter(DAVS)[0] == 1.0


def test_preemphasis_window_and_framing():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    y = preemphasis(x, 0.97)
    assert y[0] == x[0]
    np.testing.assert_allclose(y[1:], x[1:] - 0.97 * x[:-1], atol=1e-12)
    n = np.arange(400)
    np.testing.assert_allclose(hamming_symmetric(400), 0.54 - 0.46 * np.cos(2 * np.pi * n / 399))
    # vec2frames without padding: floor((L - Nw)/Ns) + 1 frames, the remainder is dropped
    for length, expected in [(399, 0), (400, 1), (559, 1), (560, 2), (18560, 114)]:
        assert frame_signal(np.zeros(length), 400, 160).shape == (expected, 400)
    frames = frame_signal(np.arange(1000.0), 400, 160)
    assert frames[3, 0] == 480 and frames[3, -1] == 879


def test_scaling_by_2_pow_15_only_moves_c0():
    # log(s * FBE) = log s + log FBE, and the DCT of a constant only reaches c0 (lifter[0] = 1)
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    with_c0 = dataclasses.replace(DAVS, keep_from=0, input_scale=2.0**15)
    unscaled = dataclasses.replace(DAVS, keep_from=0, input_scale=1.0, fbe_floor=1e-30)
    a, b = mfcc_htk(x, with_c0), mfcc_htk(x, unscaled)
    np.testing.assert_allclose(a[:, 0] - b[:, 0], math.sqrt(2 * 13) * math.log(2**15), atol=2e-3)
    np.testing.assert_allclose(a[:, 1:], b[:, 1:], atol=2e-3)


def test_davs_equals_mfcc_m_transcription_on_real_speech(speech):
    ours = mfcc_htk(speech, DAVS)
    ref = mfcc_matlab(speech, DAVS)
    assert ours.dtype == np.float32 and ours.shape == (ref.shape[0], 12)
    assert ours.shape[0] == (len(speech) - 400) // 160 + 1
    np.testing.assert_allclose(ours, ref[:, 1:], rtol=1e-5, atol=1e-4)


def test_hand_computed_tiny_example():
    """A 6-sample signal, 4-sample frames every 2, 8-point FFT, 2 filters over 0..8 kHz.

    Frames: [0, 1, 0, -1] and [0, -1, 0, 1] (x 2^15); Hamming(4) = [0.08, 0.77, 0.77, 0.08],
    so windowed frame 1 is s * [0, 0.77, 0, -0.08] (frame 2 is its negative).
    8-point FFT magnitudes: |X1| = |X3| = s * sqrt(0.77^2 + 0.08^2), |X2| = s * 0.85,
    |X0| = |X4| = s * 0.69 (both get filter weight 0).
    Bins at 0, 2000, 4000, 6000, 8000 Hz. Mel corners (1127 ln(1 + f/700)) at 0, m/3, 2m/3, m
    with m = mel(8000): c1 = 700((87/7)^(1/3) - 1), c2 = 700((87/7)^(2/3) - 1) Hz.
    Filter 1 (0, c1, c2) only reaches 2000 Hz: (c2 - 2000)/(c2 - c1).
    Filter 2 (c1, c2, 8000): 2000 Hz: (2000 - c1)/(c2 - c1); 4000: 4000/(8000 - c2);
    6000: 2000/(8000 - c2).
    DCT (M = 2): c0 = L1 + L2, c1 = (L1 - L2)/sqrt(2); lifter: c1 *= 1 + 11 sin(pi/22).
    """
    cfg = HtkMfccConfig(
        name="tiny", sample_rate=16000, win_length=4, hop_length=2, n_fft=8, preemphasis=0.0,
        n_mels=2, fmin=0.0, fmax=8000.0, n_ceps=2, lifter=22, keep_from=0,
    )
    x = np.array([0, 1, 0, -1, 0, 1], dtype=np.float32)
    s = 2.0**15
    r = 87.0 / 7.0
    c1, c2 = 700 * (r ** (1 / 3) - 1), 700 * (r ** (2 / 3) - 1)
    assert abs(c1 - 921.456) < 1e-3 and abs(c2 - 3055.884) < 1e-3
    mag1 = s * math.sqrt(0.77**2 + 0.08**2)  # bins 2000 and 6000 Hz
    mag2 = s * 0.85  # 4000 Hz
    fbe1 = (c2 - 2000) / (c2 - c1) * mag1
    fbe2 = (2000 - c1) / (c2 - c1) * mag1 + 4000 / (8000 - c2) * mag2 + 2000 / (8000 - c2) * mag1
    l1, l2 = math.log(fbe1), math.log(fbe2)
    expected = np.array([l1 + l2, (l1 - l2) / math.sqrt(2) * (1 + 11 * math.sin(math.pi / 22))])
    # the numbers, for a reader checking by hand
    np.testing.assert_allclose([fbe1, fbe2], [12548.93, 45613.90], rtol=1e-4)
    np.testing.assert_allclose(expected, [20.16536, -2.34118], atol=1e-3)
    ours = mfcc_htk(x, cfg)
    assert ours.shape == (2, 2)  # floor((6 - 4)/2) + 1 frames
    np.testing.assert_allclose(ours[0], expected, rtol=1e-5)
    np.testing.assert_allclose(ours[1], expected, rtol=1e-5)  # |FFT| of -frame is the same


@pytest.mark.parametrize("length", [0, 1, 399])
def test_shorter_than_one_window_gives_an_empty_track(length):
    out = mfcc_htk(np.zeros(length, dtype=np.float32), DAVS)
    assert out.shape == (0, 12) and out.dtype == np.float32


def test_silence_is_finite_with_an_explicit_floor():
    out = mfcc_htk(np.zeros(16000, dtype=np.float32), DAVS)
    assert out.shape == (98, 12) and np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, 0.0)  # log(fbe_floor = 1) = 0 everywhere
