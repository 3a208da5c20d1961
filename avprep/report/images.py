"""Pixel images of the report (OpenCV): contact-sheet rows and the mean face, as PNG/JPEG.

Crops are shown at their stored size, with their landmarks drawn as dots: green in frames
the face stage marked good, red in the others, so a template or landmark problem is visible
without zooming.
"""

from __future__ import annotations

import cv2
import numpy as np

from avprep.report.sampling import SHEET_STREAMS, MeanFace, SheetRow

GOOD, BAD = (40, 220, 60), (230, 40, 40)  # RGB
GAP = 6


def draw_landmarks(rgb: np.ndarray, points: np.ndarray | None, color: tuple[int, int, int]):
    """A copy of ``rgb`` with ``points`` ((P, 2) crop pixels, NaN rows skipped) as dots."""
    out = np.ascontiguousarray(rgb).copy()
    if points is None:
        return out
    radius = 1 if out.shape[0] <= 128 else 2
    for x, y in points:
        if np.isfinite(x) and np.isfinite(y):
            cv2.circle(out, (int(round(x)), int(round(y))), radius, color, -1, cv2.LINE_AA)
    return out


def _hstack(tiles: list[np.ndarray], height: int) -> np.ndarray:
    """Tiles side by side, top-aligned on a white strip ``height`` tall, ``GAP`` apart."""
    width = sum(t.shape[1] for t in tiles) + GAP * (len(tiles) - 1)
    strip = np.full((height, width, 3), 255, np.uint8)
    x = 0
    for t in tiles:
        strip[: t.shape[0], x : x + t.shape[1]] = t
        x += t.shape[1] + GAP
    return strip


def sheet_row_image(row: SheetRow) -> np.ndarray:
    """RGB strip: first/middle/last frame of crop256, then of crop112, then of the mouth."""
    tiles = []
    for stream in SHEET_STREAMS:
        frames = row.frames[stream]
        lms = row.landmarks.get(stream)
        for j in range(len(frames)):
            color = GOOD if row.face_ok[j] else BAD
            tiles.append(draw_landmarks(frames[j], None if lms is None else lms[j], color))
        tiles.append(np.full((1, GAP * 2, 3), 255, np.uint8))  # wider gap between streams
    return _hstack(tiles[:-1], max(t.shape[0] for t in tiles))


def mean_face_image(mean: MeanFace) -> np.ndarray | None:
    """The mean crop256 and crop112 side by side, mean landmarks drawn on them."""
    tiles = []
    for stream in ("crop256", "crop112"):
        img = mean.image(stream)
        if img is not None:
            tiles.append(draw_landmarks(img, mean.landmarks(stream), GOOD))
    return _hstack(tiles, max(t.shape[0] for t in tiles)) if tiles else None


def encode(rgb: np.ndarray, fmt: str = "png", quality: int = 88) -> bytes:
    """PNG or JPEG bytes of an RGB image."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else []
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", bgr, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {fmt}")
    return buf.tobytes()
