"""Face detection and 68-point landmark backends (iBUG 300-W point order).

Detection is always dlib's HOG frontal-face detector (avprep's own boxes, for every
backend). Landmarks come from a :class:`LandmarkBackend`: dlib's 68-point shape predictor
(the embedded default) or FAN 2D from face-alignment (:mod:`avprep.face.fan`).

The dlib 68-point model is licensed for non-commercial use only (it is trained on iBUG
300-W); see :mod:`avprep.face.model_files`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import cv2
import dlib
import numpy as np

from avprep.face.model_files import find_dlib_landmark_model, model_file_id

_SHARED_LOCK = threading.Lock()
_SHARED_MODELS: dict[tuple[str, str], object] = {}
_THREAD_MODELS = threading.local()


def shared_model(kind: str, path: str = "") -> object:
    """One dlib model per process (shape predictor) or per thread (face detector), whoever
    asks: the build driver, the DoFn of an in-process runner and the identity-photo face stage
    get the same object instead of reading the 100 MB shape predictor again (~0.5 s each).
    dlib documents its shape_predictor as safe to use from many threads at once; its
    object_detector is not (it keeps scratch buffers), so each thread gets its own."""
    key = (kind, path)
    if kind == "frontal_face_detector":
        models = getattr(_THREAD_MODELS, "models", None)
        if models is None:
            models = _THREAD_MODELS.models = {}
        if key not in models:
            models[key] = dlib.get_frontal_face_detector()
        return models[key]
    if kind != "shape_predictor":
        raise ValueError(f"unknown dlib model kind {kind!r}")
    with _SHARED_LOCK:
        model = _SHARED_MODELS.get(key)
        if model is None:
            model = _SHARED_MODELS[key] = dlib.shape_predictor(path)
        return model


@dataclass(frozen=True)
class Detection:
    """A face box (x0, y0, x1, y1) in frame pixels with the detector's score."""

    box: tuple[float, float, float, float]
    score: float
    upsample: int = 0  # the detector's upsampling level (doublings) that found it

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
        self._det = shared_model("frontal_face_detector")

    def detect(
        self, gray: np.ndarray, start_upsample: int = 0, scale: float = 1.0
    ) -> list[Detection]:
        """Faces in ``gray`` (boxes in ``gray``'s pixels).

        Hints from earlier frames of the same clip (:func:`avprep.face.tracking.track_speaker`)
        make a keyframe cheaper without changing what it can find: ``start_upsample`` skips
        the levels below it (a face found only at 2x before: the 2x pyramid also holds the
        1x scales, so larger faces are still found); ``scale`` < 1 searches a downscaled
        frame (faces known to be larger than the detector's 80 px window: HOG cost grows with
        the pixel count, and the pyramid would spend most of it on scales above the face)."""
        if scale < 1.0 and start_upsample == 0:
            h, w = gray.shape[:2]
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
            sx, sy = w / size[0], h / size[1]
            out = self._run(small, 0)
            if out:
                return [
                    Detection((d.box[0] * sx, d.box[1] * sy, d.box[2] * sx, d.box[3] * sy), d.score)
                    for d in out
                ]  # nothing found at the small scale: search the full frame below
        retry = max(gray.shape[:2]) <= self.upsample_retry_max_side
        first = min(start_upsample, self.max_upsample) if retry else 0
        out = self._run(gray, first)
        if not out and retry:
            for up in range(first + 1, self.max_upsample + 1):
                out = self._run(gray, up)
                if out:
                    break
        return out

    def detect_window(self, gray: np.ndarray, scale: float = 1.0) -> list[Detection]:
        """Faces in ``gray`` (a window cut around a tracked face) searched once, at ``scale``
        and no upsampling, boxes in ``gray``'s pixels: no fallback to other scales (the
        tracker searches the whole frame when the window finds nothing)."""
        if scale >= 1.0:
            return self._run(np.ascontiguousarray(gray), 0)
        h, w = gray.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        sx, sy = w / size[0], h / size[1]
        return [
            Detection((d.box[0] * sx, d.box[1] * sy, d.box[2] * sx, d.box[3] * sy), d.score)
            for d in self._run(small, 0)
        ]

    def _run(self, gray: np.ndarray, upsample: int) -> list[Detection]:
        rects, scores, _ = self._det.run(gray, upsample, 0.0)
        return [
            Detection(
                (float(r.left()), float(r.top()), float(r.right()), float(r.bottom())), s, upsample
            )
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
            self._sp = shared_model("shape_predictor", self.resolve())

    def resolve(self) -> str:
        """The model file's path (checks it exists; loads nothing)."""
        if self._resolved is None:
            self._resolved = str(find_dlib_landmark_model(self.model_path))
        return self._resolved

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
        return {"dlib": dlib.__version__, "dlib_landmark_model": model_file_id(self.resolve())}
