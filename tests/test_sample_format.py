"""One module spells a sample's member names; the writer's members are what the reader finds
(issue 20)."""

from __future__ import annotations

import numpy as np
import pytest

from avprep import sample_format as fmt
from avprep.face.crop_codec import (
    MissingFrameError,
    TruncatedStreamError,
    decode_stream,
    encode_streams,
)


def _frames(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (1, 32, 32, 3), dtype=np.uint8)
    return np.repeat(base, n, axis=0) // np.arange(1, n + 1, dtype=np.uint8)[:, None, None, None]


def test_member_names():
    assert fmt.crop_jpg_member("crop256", 3) == "crop256_00003.jpg"
    assert fmt.crop_mp4_member("mouth") == "mouth.mp4"
    assert fmt.full_frame_member(12) == "f00012.jpg" == fmt.FULL_FRAME_PATTERN.format(12)
    assert fmt.array_member("pose") == "pose.npy" and fmt.is_array_member("pose.npy")
    assert fmt.renumber_frame("crop112_00000.jpg", 4) == "crop112_00004.jpg"
    assert fmt.renumber_frame("f00000.jpg", 2) == "f00002.jpg"


@pytest.mark.parametrize("kind", ["jpg", "mp4"])
def test_what_the_writer_stores_the_reader_decodes(kind):
    frames = _frames(5)
    files = encode_streams({"mouth": frames}, kind, quality=95, crf=18)
    assert fmt.crop_format(files, "mouth") == kind and fmt.crop_format(files, "crop256") is None
    whole = decode_stream(files, "mouth")
    assert whole.shape == frames.shape
    some = decode_stream(files, "mouth", [3, 0, 3])
    np.testing.assert_array_equal(some, whole[[3, 0, 3]])
    with pytest.raises(KeyError, match="no crop112 crops"):
        decode_stream(files, "crop112")
    error = MissingFrameError if kind == "jpg" else TruncatedStreamError
    with pytest.raises(error, match="mouth"):
        decode_stream(files, "mouth", [9])
