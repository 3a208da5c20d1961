"""Landmark distance (LMD) between real and generated mouths (DVAE Sec. 4.3, after Chen et
al. 2018):

    LMD = 1/F * 1/L * sum_f sum_l || P_real[f, l] - P_fake[f, l] ||_2

over the L = 20 mouth points (0-based 48..67 of the 68-point iBUG layout) of the F frames of
a clip, in pixels of the evaluated crop; a set's LMD is the mean over its clips. Frames where
either face is not found are left out and counted (``frames_missing``).

Landmarks come from avprep's own face stage: dlib's HOG detector for the box, then dlib's
68-point shape predictor (the default) or FAN 2D (``backend="fan"``, the paper's landmark
model, when the user has its weights). LMD values from dlib and FAN landmarks are not
comparable with each other, nor with a paper's (different detectors and crops); see
``docs/results.md``. dlib is imported only when landmarks are detected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MOUTH = slice(48, 68)


def mouth_landmark_distance(real_landmarks: np.ndarray, fake_landmarks: np.ndarray) -> float:
    """Mean Euclidean distance over frames and mouth points: (F, 68, 2) or (F, 20, 2) each.

    Frames with a NaN in either set are skipped; NaN when no frame is left.
    """
    r, f = np.asarray(real_landmarks, np.float64), np.asarray(fake_landmarks, np.float64)
    if r.shape != f.shape or r.ndim != 3 or r.shape[-1] != 2 or r.shape[1] not in (20, 68):
        raise ValueError(f"need (F, 68|20, 2) landmarks of one shape, got {r.shape}, {f.shape}")
    if r.shape[1] == 68:
        r, f = r[:, MOUTH], f[:, MOUTH]
    ok = np.isfinite(r).all((1, 2)) & np.isfinite(f).all((1, 2))
    if not ok.any():
        return float("nan")
    return float(np.linalg.norm(r[ok] - f[ok], axis=-1).mean())


class CropLandmarker:
    """68 landmarks per frame of face crops with avprep's face backends (built lazily)."""

    def __init__(
        self,
        backend: str = "dlib",
        dlib_model: str | None = None,
        fan_weights: str | None = None,
        device: str = "auto",
    ) -> None:
        self.backend = backend
        self.dlib_model = dlib_model
        self.fan_weights = fan_weights
        self.device = device
        self._detector: Any = None
        self._landmarker: Any = None

    def setup(self) -> None:
        if self._landmarker is not None:
            return
        from avprep.face.backends import DlibFaceDetector
        from avprep.face.registry import LandmarkerOptions, get_face_backend

        # crops are small (112..256 px): let dlib search at 2x and 4x when 1x finds nothing
        self._detector = DlibFaceDetector(upsample_retry_max_side=640, max_upsample=2)
        options = LandmarkerOptions(self.dlib_model, self.fan_weights, self.device)
        self._landmarker = get_face_backend(self.backend).make(options)
        self._landmarker.setup()

    def versions(self) -> dict[str, str]:
        self.setup()
        return self._landmarker.versions()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(T, 68, 2) float32 landmarks of the largest face in each RGB uint8 frame, NaN
        where none is found. Each frame is detected on its own (no tracking), so real and
        generated frames are measured the same way."""
        from avprep.face.tracking import to_gray

        self.setup()
        frames = np.asarray(frames)
        gray = to_gray(frames)
        out = np.full((len(frames), 68, 2), np.nan, np.float32)
        boxes, index = [], []
        for t in range(len(frames)):
            dets = self._detector.detect(gray[t])
            if dets:
                best = max(dets, key=lambda d: d.width)
                boxes.append(best.box)
                index.append(t)
        if boxes:
            lm = self._landmarker.landmarks(frames, np.array(boxes), np.array(index))
            out[np.array(index)] = lm
        return out


def clip_lmd(real: np.ndarray, fake: np.ndarray, landmarker: CropLandmarker) -> dict[str, Any]:
    """LMD of one clip: (T, H, W, 3) uint8 real and generated crops of one size."""
    real, fake = np.asarray(real), np.asarray(fake)
    if real.shape != fake.shape:
        raise ValueError(f"real {real.shape} and generated {fake.shape} crops differ in shape")
    lr, lf = landmarker(real), landmarker(fake)
    ok = np.isfinite(lr).all((1, 2)) & np.isfinite(lf).all((1, 2))
    return {
        "lmd": mouth_landmark_distance(lr, lf),
        "frames": int(len(real)),
        "frames_missing": int((~ok).sum()),
    }


def lmd_over_clips(per_clip: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean LMD over clips that had at least one measurable frame."""
    vals = [c["lmd"] for c in per_clip if np.isfinite(c["lmd"])]
    return {
        "lmd": float(np.mean(vals)) if vals else float("nan"),
        "clips": len(per_clip),
        "clips_without_face": len(per_clip) - len(vals),
        "frames_missing": int(sum(c["frames_missing"] for c in per_clip)),
    }
