"""Head pose conventions: synthetic projections, eye-line roll on a real face, mirror symmetry."""

import cv2
import numpy as np
import pytest
from face_videos import ASTRONAUT_FACE, astronaut, placement, render

from avprep.face.alignment import anchor_points
from avprep.face.backends import DlibFaceDetector, DlibLandmarker
from avprep.face.pose import (
    GENERIC_HEAD_3D,
    POSE_LANDMARKS,
    camera_matrix,
    extreme_pose,
    head_pose,
    longest_run,
)


def _rot(yaw, pitch, roll):
    """Camera-axes rotation built from the documented meanings of the three angles."""
    y, p, r = np.radians([yaw, pitch, roll])
    # yaw: nose towards image right = rotate about the image-down axis by -yaw
    ry = cv2.Rodrigues(np.array([0.0, -y, 0.0]))[0]
    rx = cv2.Rodrigues(np.array([-p, 0.0, 0.0]))[0]  # nose up (image y points down)
    rz = cv2.Rodrigues(np.array([0.0, 0.0, r]))[0]  # clockwise on screen (y down)
    return rz @ ry @ rx


@pytest.mark.parametrize("angles", [(0, 0, 0), (25, 0, 0), (-30, 10, 0), (0, -15, 20), (12, 8, -9)])
def test_pose_recovers_projected_generic_head(angles):
    w, h = 640, 480
    k = camera_matrix(w, h)
    model_cv = GENERIC_HEAD_3D * np.array([1.0, -1.0, -1.0])
    pts = (_rot(*angles) @ model_cv.T).T + np.array([0.0, 0.0, 2500.0])
    proj = (k @ pts.T).T
    img = proj[:, :2] / proj[:, 2:]
    lm = np.zeros((1, 68, 2))
    lm[0, list(POSE_LANDMARKS)] = img
    np.testing.assert_allclose(head_pose(lm, w, h)[0], angles, atol=0.5)
    # and the signs mean what the docs say
    if angles == (25, 0, 0):
        assert img[0, 0] > img[2:4, 0].mean()  # nose tip right of the eyes' midpoint


def _landmarks(frame):
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    d = DlibFaceDetector().detect(gray)[0]
    return DlibLandmarker().predict(gray, d.box)


@pytest.mark.parametrize("angle", [-15.0, 0.0, 15.0])
def test_roll_matches_eye_line_on_real_face(angle):
    g = placement(ASTRONAUT_FACE, (200, 200), 150, angle)
    lm = _landmarks(render(astronaut(), g, (400, 400)))
    e = anchor_points(lm)
    eye_line = np.degrees(np.arctan2(e[1, 1] - e[0, 1], e[1, 0] - e[0, 0]))
    roll = head_pose(lm[None], 400, 400)[0, 2]
    assert abs(roll - eye_line) < 4.0
    # counter-clockwise image rotation = negative roll change
    base = head_pose(
        _landmarks(render(astronaut(), placement(ASTRONAUT_FACE, (200, 200), 150, 0), (400, 400)))[
            None
        ],
        400,
        400,
    )[0, 2]
    assert abs((roll - base) + angle) < 3.0


def test_mirror_negates_yaw_and_roll():
    frame = render(astronaut(), placement(ASTRONAUT_FACE, (200, 200), 150, 8.0), (400, 400))
    p = head_pose(_landmarks(frame)[None], 400, 400)[0]
    q = head_pose(_landmarks(np.ascontiguousarray(frame[:, ::-1]))[None], 400, 400)[0]
    assert abs(p[0] + q[0]) < 4.0 and abs(p[2] + q[2]) < 3.0 and abs(p[1] - q[1]) < 4.0


def test_extreme_pose_and_longest_run():
    pose = np.array([[0, 0, 0], [50, 0, 0], [0, 35, 0], [0, 0, -50], [np.nan] * 3, [10, 10, 10]])
    np.testing.assert_array_equal(
        extreme_pose(pose, 45, 30, 45), [False, True, True, True, True, False]
    )
    assert longest_run(np.array([1, 1, 0, 1, 1, 1, 0, 1], bool)) == (3, 3)
    assert longest_run(np.array([1, 1, 0, 1, 1], bool)) == (0, 2)  # ties: earliest
    assert longest_run(np.zeros(4, bool)) == (0, 0)
