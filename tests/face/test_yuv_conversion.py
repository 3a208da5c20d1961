"""The crop encoder's RGB -> yuv420p conversion equals the BT.601 8-bit integer formula it
documents (reference written here, plainly, in int64), on random, black, white and
non-contiguous frames."""

from __future__ import annotations

import numpy as np
import pytest

from avprep.face.crop_codec import rgb_to_yuv420p


def _reference(rgb: np.ndarray) -> np.ndarray:
    x = rgb.astype(np.int64)
    h, w = x.shape[:2]
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    s = x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]
    cb = ((-38 * s[..., 0] - 74 * s[..., 1] + 112 * s[..., 2] + 512) >> 10) + 128
    cr = ((112 * s[..., 0] - 94 * s[..., 1] - 18 * s[..., 2] + 512) >> 10) + 128
    planes = [np.clip(p, 0, 255).astype(np.uint8).ravel() for p in (y, cb, cr)]
    return np.concatenate(planes).reshape(h * 3 // 2, w)


@pytest.mark.parametrize("size", [(260, 260), (112, 112), (96, 96), (8, 12)])
def test_yuv420p_matches_integer_bt601(size):
    rng = np.random.default_rng(sum(size))
    frame = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    for rgb in (frame, frame[:, ::-1], np.zeros_like(frame), np.full_like(frame, 255)):
        assert np.array_equal(rgb_to_yuv420p(rgb), _reference(rgb))
