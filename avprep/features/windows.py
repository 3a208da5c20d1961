"""Per-video-frame windows cut from a continuous feature track.

One function, :func:`frame_windows`, serves every convention; a
:class:`~avprep.features.config.WindowConvention` says where frame ``i``'s window starts and
what happens at the clip edges, and the track's :class:`~avprep.features.tracks.TrackTiming`
says which samples each step analyses. The audio each frame's window covers is
``[first_start + s_i*hop, first_start + (s_i + width - 1)*hop + win)`` samples
(:func:`window_spans`).

What the named conventions give at 25 fps (t = i/25 is frame i's start time, 0-based i):

- ``mfcc_davs`` (start anchor, offset -8, width 20, hop 10 ms, win 25 ms): 0-based steps
  ``4i-8 .. 4i+11``, audio ``[t - 80 ms, t + 135 ms)``. This is the official DAVS pairing:
  ``savemfcc.m`` writes 1-based MATLAB columns ``4l-7 .. 4l+12`` to ``l.bin``, the official
  LRW frames are ``0.jpg .. 28.jpg`` and the loader pairs ``n.jpg`` with ``n.bin``, so ``l``
  is the 0-based frame number (checked against the official output in
  ``tests/features/test_features_davs_official.py``). Frames 0 and 1 always need steps before
  the audio starts, so they are invalid; at the end, frames whose window runs past the last
  MFCC step are invalid (a 29-frame LRW clip: frames 2 .. 25 are valid).
- ``mfcc_syncnet`` (centre, width 20, win 25 ms): steps ``4i-9 .. 4i+10``, audio
  ``[t - 90 ms, t + 125 ms)`` around the frame centre ``t + 20 ms``.
- ``mfcc_cran`` (centre, width 35, win 20 ms): steps ``4i-16 .. 4i+18``, audio
  ``[t - 160 ms, t + 200 ms)``: 360 ms centred exactly on ``t + 20 ms``.
- ``logspec_dvae`` (centre, width 20, FHVAE frames: step ``j`` covers samples
  ``[160 j, 160 j + 400)``): steps ``4i-9 .. 4i+10``, audio ``[t - 90 ms, t + 125 ms)``: DVAE's
  200 ms segment (T = 20 frames of its 10 ms grid) whose centre is nearest the frame centre.

At 29.97/30 fps the same rules apply with ``t = i/fps`` (step positions are rounded, so the
stride alternates 3/3/4 steps). Edges: steps outside the usable range (steps that analyse
only real audio) are never silently used: ``edge="invalid"`` zero-fills them and marks the
frame invalid; ``pad_zero``/``pad_edge`` fill them with zeros/the nearest usable step, keep
the frame valid (if at least one step is real) and report the count in ``n_padded``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avprep.features.config import WindowConvention
from avprep.features.tracks import TrackTiming


@dataclass
class FrameWindows:
    """Windows for ``n_frames`` video frames.

    ``windows``: float32 ``(n_frames, width, D)``; ``valid``: bool ``(n_frames,)``;
    ``starts``: int64 first track step of each window (may be negative or past the end);
    ``n_padded``: int64 number of steps per window that were outside the usable range.
    """

    windows: np.ndarray
    valid: np.ndarray
    starts: np.ndarray
    n_padded: np.ndarray


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(np.round(x, 6) + 0.5).astype(np.int64)


def window_starts(
    n_frames: int, fps: float, convention: WindowConvention, timing: TrackTiming
) -> np.ndarray:
    """First track step ``s_i`` of each frame's window (int64, may be out of range)."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    i = np.arange(n_frames, dtype=np.float64)
    sr, hop = timing.sample_rate, timing.hop_length
    if convention.anchor == "start":
        x = (i / fps * sr - timing.first_start) / hop
    else:
        centre = (i + 0.5) / fps * sr
        span = (convention.width - 1) * hop + timing.win_length
        x = (centre - timing.first_start - span / 2.0) / hop
    return _round_half_up(x) + convention.offset


def window_spans(
    n_frames: int, fps: float, convention: WindowConvention, timing: TrackTiming
) -> np.ndarray:
    """``(n_frames, 2)`` seconds ``[start, end)`` of the audio each frame's window covers."""
    s = window_starts(n_frames, fps, convention, timing)
    first, _ = timing.step_span(s)
    _, last_end = timing.step_span(s + convention.width - 1)
    return np.stack([first, last_end], axis=1) / float(timing.sample_rate)


def window_validity(
    n_frames: int,
    fps: float,
    convention: WindowConvention,
    timing: TrackTiming,
    usable: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(valid, starts, n_padded)`` without materialising the windows."""
    starts = window_starts(n_frames, fps, convention, timing)
    lo, hi = usable
    first = starts
    last = starts + convention.width  # one past
    inside = np.clip(np.minimum(last, hi) - np.maximum(first, lo), 0, None)
    n_padded = (convention.width - inside).astype(np.int64)
    if convention.edge == "invalid":
        valid = n_padded == 0
    else:
        valid = inside > 0
    return valid, starts, n_padded


def frame_windows(
    track: np.ndarray,
    n_frames: int,
    fps: float,
    convention: WindowConvention,
    timing: TrackTiming,
    usable: tuple[int, int] | None = None,
) -> FrameWindows:
    """Cut ``n_frames`` per-video-frame windows from a ``(T, D)`` track.

    ``usable`` is the ``[lo, hi)`` range of steps that analyse only real audio (default: all
    ``T`` steps; the build passes :meth:`TrackTiming.usable_steps`). Steps outside it are
    handled by ``convention.edge`` (module docstring); the result's ``valid`` and
    ``n_padded`` record what happened to every frame.
    """
    track = np.asarray(track)
    if track.ndim != 2:
        raise ValueError(f"track must be (T, D), got shape {track.shape}")
    lo, hi = (0, track.shape[0]) if usable is None else usable
    lo, hi = max(lo, 0), min(hi, track.shape[0])
    if hi < lo:
        lo = hi = 0
    valid, starts, n_padded = window_validity(n_frames, fps, convention, timing, (lo, hi))
    width, dim = convention.width, track.shape[1]
    if hi == lo or n_frames == 0:
        windows = np.zeros((n_frames, width, dim), dtype=np.float32)
        return FrameWindows(windows, np.zeros(n_frames, dtype=bool), starts, n_padded)
    idx = starts[:, None] + np.arange(width)[None, :]
    inside = (idx >= lo) & (idx < hi)
    windows = track[np.clip(idx, lo, hi - 1)].astype(np.float32, copy=False)
    if convention.edge in ("invalid", "pad_zero"):
        windows = np.where(inside[:, :, None], windows, np.float32(0))
    return FrameWindows(np.ascontiguousarray(windows, dtype=np.float32), valid, starts, n_padded)


def describe_span(
    fps: float, convention: WindowConvention, timing: TrackTiming, n_frames: int = 250
) -> dict[str, object]:
    """Human/JSON summary: window steps and audio span relative to the frame start time."""
    n = max(n_frames, 1)
    starts = window_starts(n, fps, convention, timing)
    spans = window_spans(n, fps, convention, timing)
    t = np.arange(n) / fps
    rel = spans - t[:, None]
    rel_steps = starts - _round_half_up(np.arange(n) / fps * timing.rate_hz)
    return {
        "fps": float(fps),
        "width_steps": convention.width,
        "anchor": convention.anchor,
        "offset_steps": convention.offset,
        "edge": convention.edge,
        "span_rel_s_min": [round(float(rel[:, 0].min()), 6), round(float(rel[:, 1].min()), 6)],
        "span_rel_s_max": [round(float(rel[:, 0].max()), 6), round(float(rel[:, 1].max()), 6)],
        "start_step_rel_min": int(rel_steps.min()),
        "start_step_rel_max": int(rel_steps.max()),
        "rule": (
            "frame i (0-based, t=i/fps) -> track steps s_i .. s_i+width-1, "
            + (
                "s_i = round(t*sr/hop - first_start/hop) + offset"
                if convention.anchor == "start"
                else "s_i = round(((i+0.5)/fps*sr - first_start - ((width-1)*hop+win)/2)/hop)"
                " + offset"
            )
            + f"; steps outside the usable range -> {convention.edge}"
        ),
    }
