"""Still face images (identity-face folders) as a DecodedMedia, one image per frame.

DAVS's person-id space comes from folders of face photos, not videos. Each image
is letterboxed onto a common canvas (the first image's size, capped at
``max_side``) so the face stage can treat a folder like a clip; there is no
audio (a silent track of the right length keeps the invariants of DecodedMedia).
"""

from __future__ import annotations

import cv2
import numpy as np

from avprep import storage
from avprep.clips import ClipRejected, DecodedMedia
from avprep.media import DecodeConfig, scaled_size


def read_image(path: str) -> np.ndarray:
    """RGB uint8 image; rejects unreadable or non-image files with a reason."""
    try:
        data = storage.read_bytes(path)
    except (FileNotFoundError, PermissionError, OSError) as e:
        raise ClipRejected("unreadable", f"{path}: {e}") from e
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ClipRejected("not_image", f"{path} is not an image OpenCV can decode")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def letterbox(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    s = min(w / img.shape[1], h / img.shape[0])
    nw, nh = max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))
    canvas = np.zeros((h, w, 3), np.uint8)
    x, y = (w - nw) // 2, (h - nh) // 2
    canvas[y : y + nh, x : x + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas


def decode_images(paths: tuple[str, ...], config: DecodeConfig = DecodeConfig()) -> DecodedMedia:
    if not paths:
        raise ClipRejected("no_images", "identity folder holds no images")
    first = read_image(paths[0])
    size = scaled_size(first.shape[1], first.shape[0], config.max_side)
    frames = np.stack(
        [letterbox(first, size)] + [letterbox(read_image(p), size) for p in paths[1:]]
    )
    n = len(frames)
    return DecodedMedia(
        frames=frames,
        timestamps=np.arange(n, dtype=np.float64) / config.fps,
        audio=np.zeros(int(round(n * config.sample_rate / config.fps)), np.float32),
        fps=config.fps,
        sample_rate=config.sample_rate,
        source_fps=config.fps,
        source_size=(first.shape[1], first.shape[0]),
        av_offset=0.0,
    )
