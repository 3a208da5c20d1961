"""CRAN Fig. 5 movement intensity on hand-made sequences with a known optical flow."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.eval.motion import movement_intensity, movement_intensity_map


def _texture(side: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.uniform(0, 255, (side, side)).astype(np.float32), (0, 0), 2.0)
    return ((x - x.min()) / (x.max() - x.min()) * 255).astype(np.float32)


def _moving(dx: int, dy: int, n: int = 6, size: int = 96) -> np.ndarray:
    """A smooth texture translated by (dx, dy) pixels per frame: flow (u, v) = (dx, dy)."""
    m = 24
    base = _texture(size + 2 * m)
    frames = [
        base[m - dy * t : m - dy * t + size, m - dx * t : m - dx * t + size] for t in range(n)
    ]
    return np.repeat(np.stack(frames)[..., None], 3, -1).astype(np.uint8)


@pytest.mark.parametrize(("dx", "dy"), [(2, 1), (0, 3), (-1, 0)])
def test_translation_gives_u2_plus_v2(dx, dy):
    frames = _moving(dx, dy)
    assert movement_intensity(frames) == pytest.approx(dx * dx + dy * dy, rel=0.1)
    m = movement_intensity_map(frames)
    assert m.shape == (96, 96)
    assert np.median(m[16:-16, 16:-16]) == pytest.approx(dx * dx + dy * dy, rel=0.05)


def test_still_sequence_is_zero_and_moving_region_is_localised():
    still = np.repeat(_moving(0, 0, n=1), 5, 0)
    assert movement_intensity(still) == pytest.approx(0.0, abs=1e-3)
    # only a "mouth" square moves: the map is bright there and dark elsewhere
    frames = still.copy()
    patch = _texture(60, seed=3)
    for t in range(5):
        frames[t, 50:80, 30:60] = patch[15:45, 15 + 2 * t : 45 + 2 * t, None].astype(np.uint8)
    m = movement_intensity_map(frames)
    assert m[55:75, 35:55].mean() > 1.0
    assert m[:30, :].mean() < 0.05


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 frames"):
        movement_intensity(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        movement_intensity(np.zeros((3, 8, 8, 3), np.float32))
