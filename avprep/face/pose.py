"""Head pose (yaw, pitch, roll in degrees) from 68-point landmarks, and the good-run logic.

Pose comes from ``cv2.solvePnP`` (SQPnP) between six landmarks and a generic 3D head:

``GENERIC_HEAD_3D`` is the six-point anthropometric model popularised by S. Mallick,
"Head Pose Estimation using OpenCV and Dlib", LearnOpenCV (2016): nose tip, chin, outer eye
corners, mouth corners, in arbitrary units (x to the image right, y up, z towards the
camera, nose tip at the origin). It is approximate by design: enough to filter extreme
poses (CRAN drops them "based on the landmark information"), not a 3D reconstruction.

Angles (camera pinhole with focal length = the frame's larger side, centre at the frame
centre, square pixels):

- ``yaw``   > 0: the nose turns towards the image right (the subject's left);
- ``pitch`` > 0: the nose points up;
- ``roll``  > 0: the eye line turns clockwise on screen (image y points down), so for a
  near-frontal face roll equals ``atan2(dy, dx)`` of the line between the eye centres.
"""

from __future__ import annotations

import cv2
import numpy as np

# iBUG 68-point indices of the model points, in the same order as GENERIC_HEAD_3D
POSE_LANDMARKS = (30, 8, 36, 45, 48, 54)
GENERIC_HEAD_3D = np.array(
    [
        (0.0, 0.0, 0.0),  # nose tip (30)
        (0.0, -330.0, -65.0),  # chin (8)
        (-225.0, 170.0, -135.0),  # image-left eye, outer corner (36)
        (225.0, 170.0, -135.0),  # image-right eye, outer corner (45)
        (-150.0, -150.0, -125.0),  # image-left mouth corner (48)
        (150.0, -150.0, -125.0),  # image-right mouth corner (54)
    ],
    dtype=np.float64,
)
# the model in OpenCV camera axes for a frontal face (x right, y down, z away from camera)
_MODEL_CV = GENERIC_HEAD_3D * np.array([1.0, -1.0, -1.0])


def camera_matrix(width: int, height: int) -> np.ndarray:
    f = float(max(width, height))
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def angles_from_rotation(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from the face->camera rotation (see module doc).

    ``r = Rz(roll) @ Ry(-yaw) @ Rx(-pitch)`` in OpenCV camera axes (x right, y down, z
    forward): pitch, then yaw, are head rotations; roll is the in-image turn applied last.
    """
    b = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    c = np.arctan2(r[2, 1], r[2, 2])
    a = np.arctan2(r[1, 0], r[0, 0])
    return float(-np.degrees(b)), float(-np.degrees(c)), float(np.degrees(a))


def head_pose(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T,68,2) landmarks in a ``width`` x ``height`` frame -> (T,3) yaw, pitch, roll (deg).

    Frames whose landmarks are not finite, or where PnP fails, get NaN.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    k = camera_matrix(width, height)
    out = np.full((lm.shape[0], 3), np.nan, dtype=np.float32)
    for t in range(lm.shape[0]):
        pts = lm[t, POSE_LANDMARKS, :]
        if not np.all(np.isfinite(pts)):
            continue
        ok, rvec, _tvec = cv2.solvePnP(
            _MODEL_CV, pts.reshape(-1, 1, 2), k, None, flags=cv2.SOLVEPNP_SQPNP
        )
        if not ok:
            continue
        r, _ = cv2.Rodrigues(rvec)
        out[t] = angles_from_rotation(r)
    return out


def extreme_pose(pose: np.ndarray, max_yaw: float, max_pitch: float, max_roll: float) -> np.ndarray:
    """(T,) bool: frames whose |yaw|, |pitch| or |roll| exceed the limits (NaN: extreme)."""
    p = np.asarray(pose, dtype=np.float64)
    lim = np.array([max_yaw, max_pitch, max_roll])
    with np.errstate(invalid="ignore"):
        return ~np.all(np.abs(p) <= lim, axis=1)


def longest_run(flags: np.ndarray) -> tuple[int, int]:
    """(start, length) of the longest run of True in ``flags``; (0, 0) when there is none.

    Ties go to the earliest run.
    """
    f = np.asarray(flags, dtype=bool)
    best_start, best_len, start = 0, 0, None
    for i, v in enumerate(np.append(f, False)):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = None
    return best_start, best_len
