"""CRAN's optical-flow movement intensity (Song et al. 2019, Sec. 4.3 and Fig. 5).

The paper computes the optical flow between each two consecutive frames,
``(u, v) = opticalflow(I_1, I_2)``, defines "the movement intensity for each pixel as
u^2 + v^2", and averages it over the entire sequence into a movement intensity map
(Fig. 5 (c)); smoother videos have less movement outside the mouth. It names no flow method
and reports no scalar. Here, exactly:

- flow: OpenCV's Farneback (``cv2.calcOpticalFlowFarneback``) from frame t to t+1 on the
  grayscale frames (``cv2.COLOR_RGB2GRAY``), with OpenCV's documented example parameters
  (pyramid scale 0.5, 3 levels, window 15, 3 iterations, poly_n 5, poly_sigma 1.2);
- :func:`movement_intensity_map`: M(x, y) = 1/(T-1) sum_t (u_t(x, y)^2 + v_t(x, y)^2), in
  pixels^2 per frame interval, the Fig. 5 (c) map;
- :func:`movement_intensity`: the spatial mean of M, i.e. the mean squared flow magnitude
  over every pixel and frame pair; the scalar the trainers log for generated vs real.
"""

from __future__ import annotations

import numpy as np

FARNEBACK = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}


def _gray_frames(frames: np.ndarray) -> np.ndarray:
    import cv2

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(
            f"frames must be uint8 (T, H, W, 3) RGB, got {frames.dtype} {frames.shape}"
        )
    if len(frames) < 2:
        raise ValueError(f"movement intensity needs at least 2 frames, got {len(frames)}")
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames])


def movement_intensity_map(frames: np.ndarray) -> np.ndarray:
    """(H, W) float32: the mean over consecutive frame pairs of u^2 + v^2 (Fig. 5 (c))."""
    import cv2

    gray = _gray_frames(frames)
    total = np.zeros(gray.shape[1:], dtype=np.float64)
    for a, b in zip(gray[:-1], gray[1:], strict=True):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK)
        total += flow[..., 0].astype(np.float64) ** 2 + flow[..., 1].astype(np.float64) ** 2
    return (total / (len(gray) - 1)).astype(np.float32)


def movement_intensity(frames: np.ndarray) -> float:
    """Mean movement intensity of a (T, H, W, 3) uint8 RGB sequence: the spatial mean of
    :func:`movement_intensity_map` (pixels^2 per frame interval)."""
    return float(movement_intensity_map(frames).mean())
