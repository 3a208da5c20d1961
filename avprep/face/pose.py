"""Head pose (yaw, pitch, roll in degrees) from 68-point landmarks, and the good-run logic.

Pose comes from ``cv2.solvePnP`` (SQPnP) between the rigid part of the face and a 3D mean
face (``avprep.face.mean_face``):

- Landmarks (``POSE_LANDMARKS``): nose bridge and nostrils (27-35), both eyes (36-47) and the
  upper jaw line beside the eyes and nose (0-3, 13-16). Brows, mouth and the lower jaw line
  move with expression and speech, so they stay out of the fit.
- Model (``HEAD_MODEL_3D``): OpenFace's 68-point mean shape, made exactly left-right
  symmetric (averaged with its mirror image, so a symmetric frontal layout reads yaw = roll
  = 0 and mirroring a face negates yaw and roll), centred on the fitted points, and turned
  about the ear-to-ear axis by ``FRONTAL_PITCH_OFFSET`` so that its frontal projection best
  matches (least squares over similarity transforms) the mean frontal iBUG layout: pitch 0
  means "as frontal as the average frontal face photo", not the PDM's arbitrary tilt.

Camera: pinhole, focal length = the frame's larger side, principal point at the frame
centre, square pixels. Angles are measured relative to the line of sight to the face, not
the optical axis: a face looking straight at the camera reads (0, 0, 0) wherever it sits in
the frame, and moving a face photo about the frame does not change its yaw and pitch.

- ``yaw``   > 0: the nose turns towards the image right (the subject's left);
- ``pitch`` > 0: the nose points up;
- ``roll``  > 0: the face turns clockwise on screen (image y points down), so for a
  near-frontal face roll is the angle ``atan2(dy, dx)`` of the line between the eyes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from avprep.face.alignment import similarity_transform
from avprep.face.mean_face import FRONTAL_LAYOUT_68, IBUG_MIRROR, MEAN_FACE_3D_68

POSE_LANDMARKS = (0, 1, 2, 3, 13, 14, 15, 16, *range(27, 48))
# names the pose method for stage versions (changes whenever the numbers it gives can change)
POSE_VERSION = "openface-mean68-rigid29-frontal-los-v1"


def _rot_x(deg: float) -> np.ndarray:
    """Rotation about the camera x axis; positive turns the nose up (image y points down)."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def _symmetric_mean_face() -> np.ndarray:
    mirrored = MEAN_FACE_3D_68[IBUG_MIRROR] * np.array([-1.0, 1.0, 1.0])
    return 0.5 * (MEAN_FACE_3D_68 + mirrored)


def _frontal_misfit(model: np.ndarray, layout: np.ndarray, pitch: float) -> float:
    """RMS misfit (in layout units) of the orthographic projection of ``model`` turned by
    ``pitch`` to ``layout``, after the best similarity transform."""
    xy = (model @ _rot_x(pitch).T)[:, :2]
    a = similarity_transform(xy, layout)
    return float(np.sqrt(np.mean(np.sum((xy @ a[:, :2].T + a[:, 2] - layout) ** 2, axis=1))))


def frontal_pitch_offset(model: np.ndarray, layout: np.ndarray) -> float:
    """Pitch (degrees) turning ``model`` so its frontal projection best matches ``layout``."""
    grid = np.arange(-45.0, 45.01, 0.5)
    best = grid[np.argmin([_frontal_misfit(model, layout, p) for p in grid])]
    fine = np.arange(best - 0.5, best + 0.5001, 0.005)
    return float(fine[np.argmin([_frontal_misfit(model, layout, p) for p in fine])])


def _head_model() -> tuple[np.ndarray, float]:
    sym = _symmetric_mean_face()[list(POSE_LANDMARKS)]
    sym = sym - sym.mean(axis=0)
    offset = frontal_pitch_offset(sym, FRONTAL_LAYOUT_68[list(POSE_LANDMARKS)])
    return sym @ _rot_x(offset).T, offset


# (len(POSE_LANDMARKS), 3) model points in OpenCV camera axes for a frontal face
# (x right, y down, z away from the camera), centred on their mean.
HEAD_MODEL_3D, FRONTAL_PITCH_OFFSET = _head_model()


def camera_matrix(width: int, height: int) -> np.ndarray:
    f = float(max(width, height))
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def line_of_sight_rotation(t: np.ndarray) -> np.ndarray:
    """The smallest rotation taking the optical axis (0, 0, 1) onto the direction of ``t``."""
    # scalar arithmetic: called once a frame, and numpy's cross/norm on 3-vectors cost ~35 us
    x, y, z = (float(v) for v in np.asarray(t, dtype=np.float64).ravel())
    n, xy = math.sqrt(x * x + y * y + z * z), math.hypot(x, y)
    if xy / n < 1e-12:
        return np.eye(3)
    angle = math.atan2(xy / n, z / n)  # axis: (0, 0, 1) x d = (-y, x, 0) / |(x, y)|
    return cv2.Rodrigues(np.array([-y / xy * angle, x / xy * angle, 0.0]))[0]


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

    Frames whose pose landmarks are not finite, or where PnP fails, get NaN.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    k = camera_matrix(width, height)
    out = np.full((lm.shape[0], 3), np.nan, dtype=np.float32)
    for t in range(lm.shape[0]):
        pts = lm[t, POSE_LANDMARKS, :]
        if not np.all(np.isfinite(pts)):
            continue
        ok, rvec, tvec = cv2.solvePnP(
            HEAD_MODEL_3D, pts.reshape(-1, 1, 2), k, None, flags=cv2.SOLVEPNP_SQPNP
        )
        if not ok or not np.all(np.isfinite(tvec)) or tvec[2, 0] <= 0:
            continue
        r, _ = cv2.Rodrigues(rvec)
        out[t] = angles_from_rotation(line_of_sight_rotation(tvec).T @ r)
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
