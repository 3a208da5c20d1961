"""MFCC tracks: the DAVS HTK/MATLAB convention and python_speech_features conventions.

What comes from libraries and what is written here:

- pre-emphasis: ``x[n] - a x[n-1]`` in numpy, MATLAB's ``filter([1 -a], 1, x)``
  (``y[0] = x[0]``); the build imports no ``scipy.signal`` (~0.8 s of worker start-up);
- framing: ``numpy``'s ``sliding_window_view`` (MATLAB ``vec2frames`` without padding);
- window: ``numpy.hamming(N)``, MATLAB's symmetric ``hamming(N)``;
- FFT: ``numpy.fft.rfft``;
- mel filterbank: the triangles of ``librosa.filters.mel(htk=True, norm=None)``, written
  out here in its own few numpy lines (importing librosa costs every build worker ~0.75 s of
  start-up for this one call; the tests check the two are equal). They are the triangles of
  ``trifbank.m`` (HTK mel ``2595 log10(1 + f/700) == 1127 ln(1 + f/700)``, corner
  frequencies uniform in mel, triangles linear in Hz with peak 1, evaluated at
  ``linspace(0, fs/2, nfft/2 + 1)``); the tests check that against a transcription of
  ``trifbank.m``;
- DCT: ``scipy.fft.dct`` type II, scaled to ``mfcc.m``'s ``sqrt(2/M) cos(...)`` matrix (which
  is neither scipy's unnormalised nor its orthonormal form for c0);
- lifter: ``python_speech_features.base.lifter`` (``1 + L/2 sin(pi n / L)``, the same as
  ``ceplifter`` in ``mfcc.m``).

Only the order of these steps (``mfcc.m``'s recipe: magnitude, not power, spectrum; no
padding; scaling by 2^15) is hand-written, because no Python library implements that recipe.
The SyncNet/CRAN conventions call ``python_speech_features.mfcc`` directly.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import python_speech_features as psf
import scipy.fft

from avprep.features.config import HtkMfccConfig, PsfMfccConfig


def preemphasis(x: np.ndarray, coef: float) -> np.ndarray:
    """``y[n] = x[n] - coef * x[n-1]``, ``y[0] = x[0]`` (MATLAB ``filter([1 -a], 1, x)``)."""
    x = np.asarray(x, dtype=np.float64)
    if coef == 0 or x.size == 0:
        return x.copy()
    y = x.copy()
    y[1:] -= coef * x[:-1]
    return y


def frame_signal(x: np.ndarray, win_length: int, hop_length: int) -> np.ndarray:
    """Frames ``(floor((N - win)/hop) + 1, win)`` without padding (trailing samples dropped).

    A signal shorter than one window gives ``(0, win)``.
    """
    if x.shape[-1] < win_length:
        return np.zeros((0, win_length), dtype=x.dtype)
    return np.lib.stride_tricks.sliding_window_view(x, win_length)[::hop_length]


@lru_cache(maxsize=32)
def hamming_symmetric(n: int) -> np.ndarray:
    """MATLAB ``hamming(n)``: ``0.54 - 0.46 cos(2 pi k / (n - 1))``, k = 0 .. n-1."""
    return np.hamming(n)


@lru_cache(maxsize=32)
def _htk_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    # librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=True, norm=None), step by step
    fft_hz = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_lo, mel_hi = (2595.0 * np.log10(1.0 + np.float64(f) / 700.0) for f in (fmin, fmax))
    corners_hz = 700.0 * (10.0 ** (np.linspace(mel_lo, mel_hi, n_mels + 2) / 2595.0) - 1.0)
    widths = np.diff(corners_hz)
    ramps = np.subtract.outer(corners_hz, fft_hz)
    fb = np.zeros((n_mels, len(fft_hz)), dtype=np.float64)
    for i in range(n_mels):
        rising, falling = -ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]
        fb[i] = np.maximum(0, np.minimum(rising, falling))
    fb.setflags(write=False)
    return fb


def htk_mel_filterbank(config: HtkMfccConfig) -> np.ndarray:
    """``(n_mels, n_fft/2 + 1)`` triangular filters as ``trifbank.m`` builds them."""
    return _htk_filterbank(
        config.sample_rate, config.n_fft, config.n_mels, float(config.fmin), float(config.fmax)
    )


@lru_cache(maxsize=32)
def _htk_dct(n_ceps: int, n_mels: int) -> np.ndarray:
    # scipy's unnormalised DCT-II is 2 * sum_m x_m cos(pi n (m + 0.5) / M); mfcc.m's matrix is
    # sqrt(2/M) * cos(pi n (m + 0.5) / M), so the basis is scipy's applied to the identity.
    basis = scipy.fft.dct(np.eye(n_mels), type=2, norm=None, axis=0)[:n_ceps]
    out = basis * (np.sqrt(2.0 / n_mels) / 2.0)
    out.setflags(write=False)
    return out


def htk_dct_matrix(config: HtkMfccConfig) -> np.ndarray:
    """``(n_ceps, n_mels)`` DCT matrix of ``mfcc.m``: ``sqrt(2/M) cos(pi n (m - 0.5) / M)``."""
    return _htk_dct(config.n_ceps, config.n_mels)


def htk_lifter(config: HtkMfccConfig) -> np.ndarray:
    """``(n_ceps,)`` sine lifter weights ``1 + L/2 sin(pi n / L)`` (psf's ``lifter``)."""
    return psf.base.lifter(np.ones((1, config.n_ceps)), config.lifter)[0]


def htk_magnitude_spectrum(audio: np.ndarray, config: HtkMfccConfig) -> np.ndarray:
    """Scaled, pre-emphasised, framed, Hamming-windowed ``|FFT|``: ``(T, n_fft/2 + 1)``."""
    x = np.asarray(audio, dtype=np.float64) * config.input_scale
    x = preemphasis(x, config.preemphasis)
    frames = frame_signal(x, config.win_length, config.hop_length)
    windowed = frames * hamming_symmetric(config.win_length)
    return np.abs(np.fft.rfft(windowed, n=config.n_fft, axis=-1))


def mfcc_htk(audio: np.ndarray, config: HtkMfccConfig) -> np.ndarray:
    """HTK-style MFCC of mono ``audio`` (float in [-1, 1]) as ``mfcc.m`` computes it.

    Returns float32 ``(T, n_ceps - keep_from)`` with ``T = floor((N - win)/hop) + 1`` (0 when
    the audio is shorter than one window). Track step ``j`` analyses samples
    ``[j * hop, j * hop + win)``. Filterbank outputs are floored at ``config.fbe_floor`` before
    the log, so silence gives finite values.

    One deliberate difference from ``mfcc.m``: it scales by 2^15 only when ``max|x| <= 1``;
    here the scale is always applied, so a clip that exceeds 1 (e.g. after adding loud noise)
    is not switched to a different scale.
    """
    mag = htk_magnitude_spectrum(audio, config)
    fbe = mag @ htk_mel_filterbank(config).T
    log_fbe = np.log(np.maximum(fbe, config.fbe_floor))
    cc = log_fbe @ htk_dct_matrix(config).T
    cc *= htk_lifter(config)
    return np.ascontiguousarray(cc[:, config.keep_from :], dtype=np.float32)


def mfcc_psf(audio: np.ndarray, config: PsfMfccConfig) -> np.ndarray:
    """``python_speech_features.mfcc`` of ``audio * input_scale`` with the config's arguments.

    Returns float32 ``(T, numcep - keep_from)``, ``T = 1 + ceil((N - win)/hop)`` (psf's
    framing: the last step is zero-padded past the end of the audio). Audio shorter than one
    window gives ``(0, D)``, where psf would analyse a single mostly-zero frame.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.shape[-1] < config.win_length:
        return np.zeros((0, config.dim), dtype=np.float32)
    kwargs = {}
    if config.hamming:
        kwargs["winfunc"] = np.hamming
    feat = psf.mfcc(
        x * config.input_scale,
        samplerate=config.sample_rate,
        winlen=config.winlen,
        winstep=config.winstep,
        numcep=config.numcep,
        nfilt=config.nfilt,
        nfft=config.nfft,
        lowfreq=config.lowfreq,
        highfreq=config.highfreq,
        preemph=config.preemph,
        ceplifter=config.ceplifter,
        appendEnergy=config.append_energy,
        **kwargs,
    )
    return np.ascontiguousarray(feat[:, config.keep_from :], dtype=np.float32)
