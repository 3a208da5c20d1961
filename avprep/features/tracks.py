"""Continuous 100 Hz feature tracks and the audio each track step analyses.

A track is float32 ``(T, D)``; step ``j`` analyses the samples
``[first_start + j * hop, first_start + j * hop + win)`` of the clip's audio
(:class:`TrackTiming`). Steps whose analysis window lies entirely inside the audio are
"usable"; the others (psf's zero-padded last step) exist in the track, but per-frame windows
that need them are padded or invalid, never silently used (see :mod:`avprep.features.windows`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from avprep.features.config import FeatureConfig, HtkMfccConfig, LogSpecConfig, PsfMfccConfig
from avprep.features.mfcc import mfcc_htk, mfcc_psf
from avprep.features.spectrogram import log_spectrogram


@dataclass(frozen=True)
class TrackTiming:
    """Sample geometry of a track: step ``j`` covers ``[first_start + j*hop, ... + win)``."""

    sample_rate: int
    hop_length: int
    win_length: int
    first_start: int = 0

    @property
    def rate_hz(self) -> float:
        return self.sample_rate / self.hop_length

    def step_span(self, j: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """First and one-past-last sample analysed by step(s) ``j``."""
        start = self.first_start + np.asarray(j) * self.hop_length
        return start, start + self.win_length

    def usable_steps(self, n_samples: int, n_steps: int) -> tuple[int, int]:
        """``(lo, hi)``: steps ``lo <= j < hi`` analyse only real samples ``[0, n_samples)``."""
        lo = max(0, math.ceil(-self.first_start / self.hop_length))
        last = (n_samples - self.win_length - self.first_start) // self.hop_length
        hi = min(n_steps, last + 1)
        return (lo, hi) if hi > lo else (0, 0)

    def steps_within(self, start: int, end: int, n_steps: int) -> tuple[int, int]:
        """``(lo, hi)``: steps that analyse only samples in ``[start, end)`` (the real audio of
        a clip whose audio was padded to the video's length)."""
        lo = max(0, math.ceil((start - self.first_start) / self.hop_length))
        hi = min(n_steps, (end - self.win_length - self.first_start) // self.hop_length + 1)
        return (lo, hi) if hi > lo else (0, 0)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "win_length": self.win_length,
            "first_start": self.first_start,
            "rate_hz": self.rate_hz,
        }


def track_timing(config: FeatureConfig) -> TrackTiming:
    """The :class:`TrackTiming` of a config's track."""
    if isinstance(config, HtkMfccConfig | PsfMfccConfig):
        return TrackTiming(config.sample_rate, config.hop_length, config.win_length, 0)
    if isinstance(config, LogSpecConfig):
        # FHVAE's frames: step j analyses [j * hop, j * hop + win) (not centred)
        return TrackTiming(config.sample_rate, config.hop_length, config.win_length, 0)
    raise TypeError(f"not a feature config: {config!r}")


@dataclass
class FeatureTrack:
    """A computed track with its geometry and the usable step range for ``n_samples``."""

    name: str
    values: np.ndarray  # float32 (T, D)
    timing: TrackTiming
    usable: tuple[int, int]
    n_samples: int


def compute_track(audio: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The float32 ``(T, D)`` track of mono float ``audio`` at ``config.sample_rate``."""
    if isinstance(config, HtkMfccConfig):
        return mfcc_htk(audio, config)
    if isinstance(config, PsfMfccConfig):
        return mfcc_psf(audio, config)
    if isinstance(config, LogSpecConfig):
        return log_spectrogram(audio, config)
    raise TypeError(f"not a feature config: {config!r}")


def feature_track(audio: np.ndarray, config: FeatureConfig) -> FeatureTrack:
    """:func:`compute_track` plus timing and usable range."""
    values = compute_track(audio, config)
    timing = track_timing(config)
    n = int(np.asarray(audio).shape[-1])
    return FeatureTrack(config.name, values, timing, timing.usable_steps(n, len(values)), n)
