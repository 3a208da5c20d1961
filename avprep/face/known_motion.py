"""Clips of real face photos moved by a known motion, to check a face backend against truth.

Where any photo point lands in every frame is known exactly, so a backend's landmarks,
boxes and tracking can be scored without hand labels: avprep's tests score its backends
this way, ``benchmarks/bench_face.py`` times them on these clips, and a user adding a
backend can do the same. ``make_work`` wraps in-memory frames as a clip for a face stage.

Faces: scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain) and matplotlib's
``grace_hopper.jpg`` sample (US Navy photograph, public domain), both read from the
installed packages. A frame is the photo warped by a known similarity ``G_t`` (photo
pixels -> frame pixels).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import cv2
import numpy as np
import skimage.data
from matplotlib import cbook

from avprep.clips import ClipRef, ClipWork, DecodedMedia

ASTRONAUT_FACE = (220.0, 121.0, 90.0)  # face centre x, y and width in the 512x512 photo
HOPPER_FACE = (268.0, 245.0, 215.0)  # same for grace_hopper.jpg (512x600)


@cache
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@cache
def hopper() -> np.ndarray:
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.imread(str(path))[:, :, ::-1].copy()


def placement(face: tuple[float, float, float], centre, width: float, angle: float) -> np.ndarray:
    """2x3 similarity putting ``face`` (photo) at ``centre`` (frame), ``width`` px wide,
    rotated by ``angle`` degrees counter-clockwise on screen."""
    fx, fy, fw = face
    s = width / fw
    a = np.radians(angle)
    r = s * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    t = np.asarray(centre, dtype=np.float64) - r @ np.array([fx, fy])
    return np.concatenate([r, t[:, None]], axis=1)


def render(photo: np.ndarray, g: np.ndarray, size: tuple[int, int], background=None) -> np.ndarray:
    """Photo warped by ``g`` into a (width, height) frame over ``background`` (grey if None)."""
    w, h = size
    frame = cv2.warpAffine(photo, g, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    mask = cv2.warpAffine(np.ones(photo.shape[:2], np.uint8), g, (w, h), flags=cv2.INTER_NEAREST)
    bg = np.full((h, w, 3), 90, np.uint8) if background is None else background
    return np.where(mask[..., None] > 0, frame, bg)


def animate(
    photo: np.ndarray,
    face: tuple[float, float, float],
    n: int,
    size: tuple[int, int],
    path: Callable[[int], tuple[tuple[float, float], float, float]],
) -> tuple[np.ndarray, np.ndarray]:
    """(T,H,W,3) frames and (T,2,3) ground truth; ``path(t)`` -> (centre, width, angle)."""
    gs = np.stack([placement(face, *path(t)) for t in range(n)])
    frames = np.stack([render(photo, g, size) for g in gs])
    return frames, gs


def moving_astronaut(n: int = 30, size=(256, 256)) -> tuple[np.ndarray, np.ndarray]:
    """Translate +-18 px, rotate +-10 degrees, scale 100-125 px, smoothly."""
    w, h = size

    def path(t: int):
        ph = 2 * np.pi * t / n
        return (
            (w / 2 + 18 * np.sin(ph), h / 2 + 10 * np.sin(2 * ph)),
            112 + 12 * np.sin(ph + 1.0),
            10 * np.sin(ph),
        )

    return animate(astronaut(), ASTRONAUT_FACE, n, size, path)


def still_astronaut(n: int = 10, size=(256, 256), width: float = 112, angle: float = 0.0):
    """The astronaut's face held still at the frame centre, ``width`` px wide."""
    w, h = size
    return animate(astronaut(), ASTRONAUT_FACE, n, size, lambda t: ((w / 2, h / 2), width, angle))


def make_work(frames: np.ndarray) -> ClipWork:
    """``frames`` (T,H,W,3 RGB) as a decoded 25 fps clip with silent 16 kHz audio."""
    t = len(frames)
    media = DecodedMedia(
        frames=frames,
        timestamps=np.arange(t) / 25.0,
        audio=np.zeros(t * 640, np.float32),
        fps=25.0,
        sample_rate=16000,
        source_fps=25.0,
        source_size=(frames.shape[2], frames.shape[1]),
        av_offset=0.0,
    )
    return ClipWork(
        ref=ClipRef(key="clip", dataset="test", split="train", source="mem"), media=media
    )
