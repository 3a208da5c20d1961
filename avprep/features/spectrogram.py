"""Log-magnitude spectrogram track (DVAE), computed with ``librosa.stft``.

DVAE (Mittal et al. 2020, Sec. 4) uses "a 200-dimensional log-magnitude spectrogram computed
every 10ms", following FHVAE (Hsu et al. 2017), whose public code (``rstft`` in
``fhvae/datasets/audio_utils.py``) does: pre-emphasis 0.97, ``librosa.stft`` with
``n_fft = 400`` (25 ms at 16 kHz), hop 160, Hamming window, librosa's default centring,
magnitude, natural log, values below -50 set to -50. A 400-point FFT has 201 bins; DVAE's 200
dimensions are the first 200 (0 .. 7960 Hz): the Nyquist bin is dropped.

Only the pre-emphasis and the log floor are written here (one line each); librosa does the
STFT. ``pad_mode="reflect"`` is set explicitly: it was librosa's default when FHVAE was
written (librosa >= 0.10 pads with zeros by default).
"""

from __future__ import annotations

import librosa
import numpy as np

from avprep.features.configs import LogSpecConfig
from avprep.features.mfcc import preemphasis


def log_spectrogram(audio: np.ndarray, config: LogSpecConfig) -> np.ndarray:
    """``(T, n_bins)`` float32 natural-log magnitude spectrogram of mono ``audio``.

    With ``center=True``, ``T = 1 + N // hop`` and step ``j``'s analysis window is centred on
    sample ``j * hop`` (the first and last steps see reflected padding). Audio shorter than
    one analysis window gives ``(0, n_bins)``. Log values are floored at ``log_floor``, so
    silence gives ``log_floor`` (finite).
    """
    x = np.asarray(audio, dtype=np.float64) * config.input_scale
    if x.shape[-1] < config.win_length:
        return np.zeros((0, config.n_bins), dtype=np.float32)
    x = preemphasis(x, config.preemphasis)
    spec = librosa.stft(
        x,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        window=config.window_fn,
        center=config.center,
        pad_mode=config.pad_mode,
    )
    mag = np.abs(spec[: config.n_bins])
    with np.errstate(divide="ignore"):  # log(0) = -inf, then floored
        logmag = np.maximum(np.log(mag), config.log_floor)
    return np.ascontiguousarray(logmag.T, dtype=np.float32)
