"""The crop encoder's RGB -> yuv420p conversion equals the BT.601 integer formulas it
documents (references written here, plainly, in int64): luma on all 2^24 colours (it is
OpenCV's fixed-point luma, so a change in OpenCV shows here), chroma on random, black, white,
non-contiguous frames and sizes whose half height is odd."""

from __future__ import annotations

import numpy as np
import pytest

from avprep.face.crop_codec import decode_mp4, encode_mp4, rgb_to_yuv420p


def _luma(x: np.ndarray) -> np.ndarray:
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return (269484 * r + 528482 * g + 102760 * b + (16 << 20) + (1 << 19)) >> 20


def _reference(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rgb.astype(np.int64)
    s = x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]
    cb = ((-38 * s[..., 0] - 74 * s[..., 1] + 112 * s[..., 2] + 512) >> 10) + 128
    cr = ((112 * s[..., 0] - 94 * s[..., 1] - 18 * s[..., 2] + 512) >> 10) + 128
    return tuple(np.clip(p, 0, 255).astype(np.uint8) for p in (_luma(x), cb, cr))


def test_luma_of_every_colour():
    c = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([c >> 16, (c >> 8) & 255, c & 255], -1).astype(np.uint8).reshape(4096, 4096, 3)
    y = rgb_to_yuv420p(rgb)[0]
    assert np.array_equal(y, _luma(rgb.astype(np.int32)))  # the sums fit in int32
    # BT.601 limited range: within 0.6 of the exact value for every colour
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    exact = 16 + 219 / 255 * (0.299 * r + 0.587 * g + 0.114 * b)
    assert np.abs(y - exact).max() < 0.6


@pytest.mark.parametrize("size", [(260, 260), (112, 112), (96, 96), (8, 12), (90, 94)])
def test_yuv420p_matches_integer_bt601(size):
    rng = np.random.default_rng(sum(size))
    frame = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    for rgb in (frame, frame[:, ::-1], np.zeros_like(frame), np.full_like(frame, 255)):
        got, want = rgb_to_yuv420p(rgb), _reference(rgb)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == np.uint8 and np.array_equal(g, w)


def test_sizes_with_odd_half_height_encode():
    """A 90x94 stream (mouth_size=90: planes of 45 rows) encodes and decodes."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 90, 94, 3), dtype=np.uint8)
    out = decode_mp4(encode_mp4(frames))
    assert out.shape == frames.shape


def test_frame_filled_in_place_or_through_a_copy_alike(monkeypatch):
    """The yuv420p frame's bytes, padding included, are the same whether PyAV lends its planes
    writable (filled in place) or read-only (filled through a copy)."""
    from avprep.face import crop_codec

    planes = rgb_to_yuv420p(np.random.default_rng(3).integers(0, 256, (90, 94, 3), np.uint8))
    frame = crop_codec._yuv420p_frame(planes)
    direct = [bytes(p) for p in frame.planes]
    for p, data in zip(frame.planes, planes, strict=True):  # padding repeats each row's end
        rows, cols = data.shape
        got = np.frombuffer(p, np.uint8)[: rows * p.line_size].reshape(rows, p.line_size)
        assert np.array_equal(got[:, :cols], data)
        assert (got[:, cols:] == data[:, -1:]).all()
    real = np.frombuffer

    def read_only(buffer, dtype=float):
        out = real(buffer, dtype)
        out.flags.writeable = False
        return out

    monkeypatch.setattr(crop_codec.np, "frombuffer", read_only)
    assert [bytes(p) for p in crop_codec._yuv420p_frame(planes).planes] == direct
