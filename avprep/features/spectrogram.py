"""Log-magnitude spectrogram track (DVAE), as the FHVAE recipe DVAE cites computes it.

DVAE (Mittal et al. 2020, Sec. 4): "a 200-dimensional log-magnitude spectrogram computed every
10ms", "setup similar to" Hsu et al., NIPS 2017 (FHVAE). That recipe's public code
(wnhsu/FactorizedHierarchicalVAE: ``egs/timit/steps/make_spec.sh``, ``spec_data_prep.sh``,
``src/tools/audio.py`` ``comp_spec_image``/``stft_index``/``hann``) on 16 kHz audio read as
float in [-1, 1]:

- frames of ``fn = 400`` samples starting at sample ``160 t`` (not centred, no padding);
- window ``sqrt(hann(400))`` with FHVAE's periodic Hann ``0.5 (1 - cos(2 pi x / n))``
  (``awin=None`` selects it), no pre-emphasis;
- ``fft = 400``-point FFT, bins ``0 .. 200`` kept (201);
- ``log10 |X|``, values below ``log_floor = -20`` set to -20 (so ``|X| = 0`` gives -20, not
  ``-inf``), times 20: dB, floor -400 dB;
- ``--remove_0th True``: the DC bin is dropped -> 200 bins (62.5 Hz .. 8 kHz, Nyquist kept).

One departure, on purpose: FHVAE's frame starts are ``arange(0, N - 400, 160)``, which leaves
out a last frame that ends exactly on the last sample; we keep every full frame
(``floor((N - 400) / 160) + 1``). The frames both have are identical.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from avprep.features.config import LogSpecConfig


@lru_cache(maxsize=16)
def _window(name: str, n: int) -> np.ndarray:
    if name == "sqrt_hann":  # FHVAE's default analysis window: sqrt of the periodic Hann
        x = np.arange(n)
        return np.sqrt(0.5 * (1.0 - np.cos(2.0 * np.pi * x / n)))
    import scipy.signal  # only for other windows: its import costs ~0.8 s of start-up

    return scipy.signal.get_window(name, n, fftbins=True)


def logspec_window(config: LogSpecConfig) -> np.ndarray:
    """The ``win_length`` analysis window of a config (float64, read-only)."""
    w = _window(config.window_fn, config.win_length)
    w.flags.writeable = False
    return w


def n_logspec_frames(n_samples: int, config: LogSpecConfig) -> int:
    """Number of full frames: ``floor((N - win) / hop) + 1`` (0 when ``N < win``)."""
    if n_samples < config.win_length:
        return 0
    return (n_samples - config.win_length) // config.hop_length + 1


def log_spectrogram(audio: np.ndarray, config: LogSpecConfig) -> np.ndarray:
    """``(T, n_bins)`` float32 dB log-magnitude spectrogram of mono ``audio`` (module doc).

    Step ``t`` analyses samples ``[t * hop, t * hop + win)``; audio shorter than one window
    gives ``(0, n_bins)``. Silence gives ``db_scale * log_floor`` (finite).
    """
    x = np.asarray(audio, dtype=np.float64) * config.input_scale
    n = n_logspec_frames(x.shape[-1], config)
    if n == 0:
        return np.zeros((0, config.n_bins), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, config.win_length)[:: config.hop_length]
    frames = frames[:n] * logspec_window(config)
    spec = scipy.fft.rfft(frames, n=config.n_fft, axis=-1)
    mag = np.abs(spec[:, config.first_bin : config.first_bin + config.n_bins])
    with np.errstate(divide="ignore"):  # log10(0) = -inf, then floored like FHVAE
        logmag = np.maximum(np.log10(mag), config.log_floor)
    return np.ascontiguousarray(config.db_scale * logmag, dtype=np.float32)
