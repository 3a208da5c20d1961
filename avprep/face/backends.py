"""Face detection and 68-point landmark backends (iBUG 300-W point order).

Detection is always dlib's HOG frontal-face detector (avprep's own boxes, for every
backend). Landmarks come from a :class:`LandmarkBackend`: dlib's 68-point shape predictor
(the embedded default) or FAN 2D from face-alignment (:mod:`avprep.face.fan`).

The dlib 68-point model is licensed for non-commercial use only (it is trained on iBUG
300-W); see :mod:`avprep.face.model_files`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import dlib
import numpy as np

from avprep.face.model_files import find_dlib_landmark_model


@dataclass(frozen=True)
class Detection:
    """A face box (x0, y0, x1, y1) in frame pixels with the detector's score."""

    box: tuple[float, float, float, float]
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]


class DlibFaceDetector:
    """dlib's HOG + linear SVM face detector; finds faces down to about 80 px per upsample.

    Frames whose larger side is at most ``upsample_retry_max_side`` are searched again at
    2x, 4x ... (up to ``max_upsample`` doublings) when nothing is found at 1x.
    """

    def __init__(self, upsample_retry_max_side: int = 640, max_upsample: int = 1) -> None:
        self.upsample_retry_max_side = upsample_retry_max_side
        self.max_upsample = max_upsample
        self._det = dlib.get_frontal_face_detector()

    def detect(self, gray: np.ndarray) -> list[Detection]:
        out = self._run(gray, 0)
        if not out and max(gray.shape[:2]) <= self.upsample_retry_max_side:
            for up in range(1, self.max_upsample + 1):
                out = self._run(gray, up)
                if out:
                    break
        return out

    def _run(self, gray: np.ndarray, upsample: int) -> list[Detection]:
        rects, scores, _ = self._det.run(gray, upsample, 0.0)
        return [
            Detection((float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), s)
            for r, s in zip(rects, scores, strict=True)
        ]


class LandmarkBackend(Protocol):
    """68 landmarks (iBUG order) for given boxes; implementations batch across frames."""

    name: str

    def setup(self) -> None: ...

    def landmarks(
        self, frames: np.ndarray, boxes: np.ndarray, frame_index: np.ndarray
    ) -> np.ndarray:
        """(N,68,2) float32 for boxes (N,4) = x0,y0,x1,y1 in frames[frame_index] (RGB)."""
        ...

    def versions(self) -> dict[str, str]: ...


def _rect(box: np.ndarray | tuple[float, ...]) -> dlib.rectangle:
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return dlib.rectangle(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))


class DlibLandmarker:
    """dlib's ensemble-of-regression-trees 68-point shape predictor (about 1 ms a face)."""

    name = "dlib"

    def __init__(self, model_path: str | None = None) -> None:
        self.model_path = model_path
        self._sp: dlib.shape_predictor | None = None
        self._resolved: str | None = None

    def setup(self) -> None:
        if self._sp is None:
            path = find_dlib_landmark_model(self.model_path)
            self._resolved = str(path)
            self._sp = dlib.shape_predictor(str(path))

    def predict(self, gray: np.ndarray, box: np.ndarray | tuple[float, ...]) -> np.ndarray:
        """(68,2) float32 landmarks of the face in ``box`` of a grayscale (or RGB) frame."""
        if self._sp is None:
            self.setup()
        assert self._sp is not None
        shape = self._sp(gray, _rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def landmarks(
        self, frames: np.ndarray, boxes: np.ndarray, frame_index: np.ndarray
    ) -> np.ndarray:
        out = np.empty((len(boxes), 68, 2), dtype=np.float32)
        for i, (b, t) in enumerate(zip(boxes, frame_index, strict=True)):
            out[i] = self.predict(np.ascontiguousarray(frames[int(t)]), b)
        return out

    def versions(self) -> dict[str, str]:
        self.setup()
        return {"dlib": dlib.__version__, "dlib_landmark_model": str(self._resolved)}


def make_landmarker(
    backend: str,
    dlib_model: str | None = None,
    fan_weights: str | None = None,
    device: str = "auto",
    fan_batch_size: int = 32,
) -> LandmarkBackend:
    if backend == "dlib":
        return DlibLandmarker(dlib_model)
    if backend == "fan":
        from avprep.face.fan import FanLandmarker

        return FanLandmarker(weights=fan_weights, device=device, batch_size=fan_batch_size)
    raise ValueError(f"unknown face backend {backend!r} (choose 'dlib' or 'fan')")
