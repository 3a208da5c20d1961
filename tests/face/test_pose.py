"""Head pose: synthetic projections of the model, frontal real photos, in-plane rotation,
mirror symmetry, and the frontal calibration of the 3D mean face."""

import cv2
import numpy as np
import pytest

from avprep.face.alignment import anchor_points
from avprep.face.backends import DlibFaceDetector, DlibLandmarker
from avprep.face.known_motion import (
    ASTRONAUT_FACE,
    HOPPER_FACE,
    astronaut,
    hopper,
    placement,
    render,
)
from avprep.face.mean_face import FRONTAL_LAYOUT_68, IBUG_MIRROR, MEAN_FACE_3D_68
from avprep.face.pose import (
    FRONTAL_PITCH_OFFSET,
    HEAD_MODEL_3D,
    POSE_LANDMARKS,
    camera_matrix,
    extreme_pose,
    head_pose,
    line_of_sight_rotation,
    longest_run,
)

PHOTOS = {"astronaut": (astronaut, ASTRONAUT_FACE), "hopper": (hopper, HOPPER_FACE)}


def _rot(yaw, pitch, roll):
    """Camera-axes rotation built from the documented meanings of the three angles."""
    y, p, r = np.radians([yaw, pitch, roll])
    # yaw: nose towards image right = rotate about the image-down axis by -yaw
    ry = cv2.Rodrigues(np.array([0.0, -y, 0.0]))[0]
    rx = cv2.Rodrigues(np.array([-p, 0.0, 0.0]))[0]  # nose up (image y points down)
    rz = cv2.Rodrigues(np.array([0.0, 0.0, r]))[0]  # clockwise on screen (y down)
    return rz @ ry @ rx


def _project(angles, w, h, at=(0.0, 0.0), depth=2500.0):
    """68-point landmarks (pose points filled, others NaN) of the head model seen at
    ``angles`` relative to the line of sight, its centre at ``at`` pixels from the
    principal point."""
    k = camera_matrix(w, h)
    centre = np.array([at[0] * depth / k[0, 0], at[1] * depth / k[1, 1], depth])
    r = line_of_sight_rotation(centre) @ _rot(*angles)
    proj = (k @ ((r @ HEAD_MODEL_3D.T).T + centre).T).T
    lm = np.full((68, 2), np.nan)
    lm[list(POSE_LANDMARKS)] = proj[:, :2] / proj[:, 2:]
    return lm


@pytest.mark.parametrize("at", [(0.0, 0.0), (180.0, -120.0)])
@pytest.mark.parametrize("angles", [(0, 0, 0), (25, 0, 0), (-30, 10, 0), (0, -15, 20), (12, 8, -9)])
def test_pose_recovers_projected_head_model(angles, at):
    w, h = 640, 480
    lm = _project(angles, w, h, at)
    np.testing.assert_allclose(head_pose(lm[None], w, h)[0], angles, atol=0.3)
    # and the signs mean what the docs say
    if angles == (25, 0, 0):
        nose, eyes = lm[30], lm[36:48].mean(0)
        assert nose[0] > eyes[0] + 0.05 * (lm[45, 0] - lm[36, 0])
    if angles == (0, -15, 20) and at == (0.0, 0.0):
        assert lm[45, 1] > lm[36, 1]  # clockwise on screen: image-right eye lower


def test_model_is_symmetric_and_calibrated_to_the_frontal_layout():
    # the 3D source is nearly symmetric already (within 3 units of a ~90-unit eye span)
    mirrored = MEAN_FACE_3D_68[IBUG_MIRROR] * np.array([-1.0, 1.0, 1.0])
    assert np.abs(mirrored - MEAN_FACE_3D_68).max() < 3.0
    # the PDM mean is tilted against the frontal layout; the model corrects it
    assert 3.0 < abs(FRONTAL_PITCH_OFFSET) < 20.0
    # the mean frontal 2D layout itself, placed anywhere in a frame, reads frontal
    w, h = 640, 480
    for centre in [(320.0, 240.0), (150.0, 120.0), (500.0, 400.0)]:
        lm = (FRONTAL_LAYOUT_68 - 0.5) * 160.0 + np.array(centre)
        yaw, pitch, roll = head_pose(lm[None], w, h)[0]
        assert abs(pitch) < 2.0 and abs(yaw) < 3.0 and abs(roll) < 3.0, (yaw, pitch, roll)


def _landmarks(frame):
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    d = DlibFaceDetector().detect(gray)[0]
    return DlibLandmarker().predict(gray, d.box)


def _eye_line(lm):
    e = anchor_points(lm)
    return np.degrees(np.arctan2(e[1, 1] - e[0, 1], e[1, 0] - e[0, 0]))


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_frontal_photo_reads_frontal(name):
    """Both photos are frontal portraits: |yaw|, |pitch| < 10 deg and roll = eye line, in the
    photo itself and wherever/however large the face is placed in a frame."""
    photo, face = PHOTOS[name]
    img = photo()
    views = [(img, img.shape[1], img.shape[0])]
    for centre, width in [((200, 200), 150), ((110, 290), 120), ((300, 120), 200)]:
        views.append((render(img, placement(face, centre, width, 0.0), (400, 400)), 400, 400))
    for frame, w, h in views:
        lm = _landmarks(frame)
        yaw, pitch, roll = head_pose(lm[None], w, h)[0]
        assert abs(yaw) < 10.0 and abs(pitch) < 10.0, (name, yaw, pitch)
        assert abs(roll - _eye_line(lm)) < 2.0, (name, roll, _eye_line(lm))


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_in_plane_rotation_changes_only_roll(name):
    photo, face = PHOTOS[name]
    poses = {}
    for angle in [-15.0, -4.0, 0.0, 4.0, 15.0]:
        frame = render(photo(), placement(face, (200, 200), 150, angle), (400, 400))
        lm = _landmarks(frame)
        poses[angle] = head_pose(lm[None], 400, 400)[0]
        assert abs(poses[angle][2] - _eye_line(lm)) < 2.0
    for angle, p in poses.items():
        d = p - poses[0.0]
        # counter-clockwise image rotation = negative roll change; yaw and pitch stay
        # (dlib's landmarks on a 15-degree-rotated face drift by a degree or two)
        assert abs(d[2] + angle) < 3.0, (angle, d)
        assert abs(d[0]) < 2.0 and abs(d[1]) < 2.0, (angle, d)


@pytest.mark.parametrize("name", sorted(PHOTOS))
def test_mirror_negates_yaw_and_roll(name):
    photo, face = PHOTOS[name]
    frame = render(photo(), placement(face, (170, 220), 150, 8.0), (400, 400))
    p = head_pose(_landmarks(frame)[None], 400, 400)[0]
    q = head_pose(_landmarks(np.ascontiguousarray(frame[:, ::-1]))[None], 400, 400)[0]
    assert abs(p[0] + q[0]) < 2.0 and abs(p[2] + q[2]) < 2.0 and abs(p[1] - q[1]) < 2.0


def test_missing_landmarks_give_nan():
    lm = _project((5, 5, 5), 640, 480)
    lm[33] = np.nan
    assert np.isnan(head_pose(lm[None], 640, 480)).all()


def test_extreme_pose_and_longest_run():
    pose = np.array([[0, 0, 0], [50, 0, 0], [0, 35, 0], [0, 0, -50], [np.nan] * 3, [10, 10, 10]])
    np.testing.assert_array_equal(
        extreme_pose(pose, 45, 30, 45), [False, True, True, True, True, False]
    )
    assert longest_run(np.array([1, 1, 0, 1, 1, 1, 0, 1], bool)) == (3, 3)
    assert longest_run(np.array([1, 1, 0, 1, 1], bool)) == (0, 2)  # ties: earliest
    assert longest_run(np.zeros(4, bool)) == (0, 0)
