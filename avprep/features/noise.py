"""White-noise augmentation as in DVAE (Mittal et al. 2020, Sec. 4.3).

DVAE "create[s] noisy samples by adding uniformly distributed white noise to audio
sequences", with the level given relative to the original audio: -60 dB (almost inaudible),
-30 dB (moderate), -10 dB (almost imperceptible speech). Here the level is a power ratio
over the whole clip: ``10 log10(mean(noise^2) / mean(audio^2)) == level_db`` exactly (the
noise is scaled by its own realised power, not its expected power).

The noise is uniform on [-1, 1) before scaling, drawn from a NumPy PCG64 generator seeded by
SHA-256 of ``(seed, clip key)``: the same clip and seed always get the same noise, on any
machine, and every level of one clip uses the same realisation (only the scale differs), so
levels are directly comparable. Silent audio (power 0) gets no noise (0 dB relative to
nothing is nothing), and the output is not clipped.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np


def noise_seed(key: str, seed: int) -> int:
    """64-bit seed derived from ``(seed, key)``; stable across processes and machines."""
    digest = hashlib.sha256(f"avprep-white-noise\0{int(seed)}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def white_noise(n_samples: int, key: str, seed: int) -> np.ndarray:
    """Unit uniform white noise on [-1, 1), float64 ``(n_samples,)``, deterministic."""
    rng = np.random.Generator(np.random.PCG64(noise_seed(key, seed)))
    return rng.uniform(-1.0, 1.0, size=n_samples)


def add_white_noise(audio: np.ndarray, level_db: float, key: str, seed: int = 0) -> np.ndarray:
    """``audio`` plus white noise ``level_db`` dB relative to the clip's mean power (float32)."""
    if not math.isfinite(level_db):
        raise ValueError(f"noise level must be a finite number of dB, got {level_db}")
    x = np.asarray(audio, dtype=np.float64)
    p_signal = float(np.mean(x * x)) if x.size else 0.0
    if p_signal == 0.0:
        return x.astype(np.float32)
    u = white_noise(x.size, key, seed)
    p_unit = float(np.mean(u * u))
    gain = math.sqrt(p_signal * 10.0 ** (level_db / 10.0) / p_unit)
    return (x + gain * u).astype(np.float32)


def noise_level_tag(level_db: float) -> str:
    """``-30`` -> ``"-30"``, ``-12.5`` -> ``"-12p5"``: usable in a shard member name (no dots)."""
    if not math.isfinite(level_db):
        raise ValueError(f"noise level must be finite, got {level_db}")
    if float(level_db).is_integer():
        return str(int(level_db))
    return f"{level_db:g}".replace(".", "p")


def noise_track_name(name: str, level_db: float) -> str:
    """Array name of a noisy copy of track ``name``: ``logspec_dvae_noise-30db``."""
    return f"{name}_noise{noise_level_tag(level_db)}db"
