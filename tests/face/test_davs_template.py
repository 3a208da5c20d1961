"""The DAVS crop against the official DAVS alignment, written here from its numbers.

Official (``preprocess/process256_224.py``, ``ImageLoader256``; ``Data_load_sequence.py``):
eye centres -> (70, 112), (110, 112) (each listed twice), mouth centre (mean of the mouth
corners) -> (90, 150), all x2, fitted by ``transformation_from_points`` (centre, divide by the
std, Procrustes rotation, scale std2/std1); ``warpAffine`` into a 356x436 canvas with grey
127; cut ``[104:372, 44:312]``; ``cv2.resize`` to 260x260; the 256 test crop is
``[2:258, 2:258]``. There the points land at (91.1, 114.4), (168.7, 114.4), (129.9, 188.1).
"""

from __future__ import annotations

import cv2
import numpy as np

from avprep.face import DAVS_TEMPLATE
from avprep.face.alignment import (
    align_transforms,
    anchor_points,
    apply_affine,
    translate,
    warp_crop,
)
from avprep.face.templates import template_points
from avprep.reader.views import crop_stored, map_points

ISSUE_POINTS = np.array([[91.1, 114.4], [168.7, 114.4], [129.9, 188.1]])


def official_matrix(three_points: np.ndarray) -> np.ndarray:
    """``transformation_from_points`` with the LRW point list, written from its description."""
    p1 = np.array([three_points[0], three_points[1], three_points[0], three_points[1],
                   three_points[2]], dtype=np.float64)  # fmt: skip
    p2 = np.array([[70, 112], [110, 112], [70, 112], [110, 112], [90, 150]], np.float64) * 2
    c1, c2 = p1.mean(0), p2.mean(0)
    p1, p2 = p1 - c1, p2 - c2
    s1, s2 = np.std(p1), np.std(p2)
    u, _, vt = np.linalg.svd((p1 / s1).T @ (p2 / s2))
    r = (u @ vt).T
    return np.hstack([(s2 / s1) * r, (c2 - (s2 / s1) * r @ c1)[:, None]])


def official_crop260(frame_bgr: np.ndarray, m: np.ndarray) -> np.ndarray:
    canvas = cv2.warpAffine(frame_bgr, m, (356, 436), borderValue=[127, 127, 127])
    return cv2.resize(canvas[104:372, 44:312], (260, 260))


def official_points_256(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Frame points -> the official centred 256 crop (cv2.resize maps pixel centres)."""
    canvas = pts @ m[:, :2].T + m[:, 2]
    return (canvas - [44, 104] + 0.5) * 260 / 268 - 0.5 - 2


def hand_landmarks(e1, e2, m1, m2) -> np.ndarray:
    """68 points whose eye means are e1, e2 and whose mouth corners are m1, m2."""
    lm = np.zeros((68, 2))
    ring = 4.0 * np.array([[np.cos(a), np.sin(a)] for a in np.linspace(0, 2 * np.pi, 7)[:6]])
    lm[36:42] = np.asarray(e1) + ring
    lm[42:48] = np.asarray(e2) + ring
    lm[48], lm[54] = m1, m2
    lm[55:68] = (np.asarray(m1) + np.asarray(m2)) / 2
    return lm


def textured_frame(h: int = 480, w: int = 640) -> np.ndarray:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (h // 16, w // 16, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def test_template_constants_are_the_official_geometry():
    np.testing.assert_allclose(DAVS_TEMPLATE.points, ISSUE_POINTS, atol=0.05)
    np.testing.assert_allclose(template_points("davs256", 256), DAVS_TEMPLATE.points)
    assert abs(DAVS_TEMPLATE.eye_distance - 77.6) < 0.05
    assert DAVS_TEMPLATE.border_value == 127 and DAVS_TEMPLATE.margin == 2
    cx, cy, side = DAVS_TEMPLATE.mouth_box()
    assert (cx, cy) == tuple(DAVS_TEMPLATE.mouth) and abs(side - 1.5 * 77.61) < 0.01


def test_hand_placed_landmarks_land_where_the_official_transform_puts_them():
    # a tilted, scaled face whose anchors are not an exact similarity of the template
    # (mouth a little low and to the side): the weights and the fit must match too
    for e1, e2, m1, m2 in [
        ((300.0, 200.0), (360.0, 190.0), (305.0, 290.0), (355.0, 282.0)),
        ((250.0, 180.0), (330.0, 196.0), (262.0, 300.0), (318.0, 318.0)),
        ((100.0, 100.0), (140.0, 100.0), (100.0, 180.0), (140.0, 180.0)),
    ]:
        lm = hand_landmarks(e1, e2, m1, m2)
        anchors = anchor_points(lm)
        a256 = align_transforms(anchors[None], "davs256", 256)[0]
        m = official_matrix(anchors)
        np.testing.assert_allclose(
            apply_affine(a256, anchors), official_points_256(m, anchors), atol=1e-6
        )
        np.testing.assert_allclose(apply_affine(a256, lm), official_points_256(m, lm), atol=1e-6)
    # an exact similarity of the template: the anchors land on the issue's numbers
    ang, k, t = 0.2, 1.7, np.array([210.0, 95.0])
    rot = k * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    face = ISSUE_POINTS @ rot.T + t
    half = np.array([18.0, 0.0]) @ rot.T  # mouth corners either side of the mouth centre
    lm = hand_landmarks(face[0], face[1], face[2] - half, face[2] + half)
    a256 = align_transforms(anchor_points(lm)[None], "davs256", 256)[0]
    np.testing.assert_allclose(apply_affine(a256, anchor_points(lm)), ISSUE_POINTS, atol=0.05)


def test_stored_crop_matches_official_pixels_and_grey_border():
    frame = textured_frame()
    # a small face near the frame's corner: the canvas leaves the frame (grey border)
    lm = hand_landmarks((40.0, 60.0), (80.0, 58.0), (45.0, 120.0), (75.0, 119.0))
    anchors = anchor_points(lm)
    a256 = align_transforms(anchors[None], "davs256", 256)[0]
    # what the face stage stores: one warp to 260 with the margin, grey outside
    ours = warp_crop(frame, translate(a256, 2, 2), 260, DAVS_TEMPLATE.border_value)
    official = official_crop260(frame[:, :, ::-1].copy(), official_matrix(anchors))[:, :, ::-1]
    assert ours.shape == official.shape == (260, 260, 3)
    inside = (official != 127).any(-1) & (ours != 127).any(-1)
    assert 0.2 < inside.mean() < 0.9  # both border and face in the crop
    # grey exactly where the official crop is grey (away from the edge's interpolation)
    grey_both = cv2.erode((~inside).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert (ours[grey_both] == 127).all() and (official[grey_both] == 127).all()
    diff = np.abs(ours.astype(float) - official.astype(float))[inside]
    # one bilinear warp vs the official warp + resize: same geometry, slightly less blur
    assert diff.mean() < 3.0, diff.mean()
    shifted = np.abs(np.roll(official, 1, axis=1).astype(float) - official.astype(float))
    assert diff.mean() < 0.5 * shifted[inside].mean()
    # the reader's centre crop is the official test crop [2:258, 2:258]
    np.testing.assert_array_equal(crop_stored(ours, 2), ours[2:258, 2:258])


def test_augmentation_crops_and_flips_like_the_official_loader():
    stored = np.arange(260 * 260 * 3, dtype=np.int64).reshape(260, 260, 3) % 251
    stored = stored.astype(np.uint8)
    for x0, y0, flip in [(0, 4, False), (4, 0, True), (2, 2, True), (1, 3, False)]:
        # official: image = fliplr(image) if flip; image[crop_x:crop_x+256, crop_y:crop_y+256]
        ref = np.fliplr(stored) if flip else stored
        ref = ref[y0 : y0 + 256, x0 : x0 + 256]
        got = crop_stored(stored, 2, x0, y0, flip)
        np.testing.assert_array_equal(got, ref)
        # a crop256 point maps onto the same content
        p = np.array([[91.0, 114.0], [130.0, 188.0]])
        q = map_points(p, 2, (x0, y0, 256), flip)
        for (px, py), (qx, qy) in zip(p, q, strict=True):
            sx, sy = int(px) + 2, int(py) + 2
            assert (got[int(qy), int(qx)] == stored[sy, sx]).all()


def test_face_stage_records_the_template_and_stores_the_260_crop(run_stage):
    from avprep.face.crop_codec import decode_stream
    from avprep.face.known_motion import still_astronaut

    frames, _ = still_astronaut(4, width=150)  # a large face: the crop leaves the frame
    w = run_stage(frames, image_format="jpg", jpeg_quality=100)
    t = w.meta["face"]["templates"]
    assert t["crop256"]["name"] == "davs256" and t["crop256"]["fit"] == "davs"
    np.testing.assert_allclose(t["crop256"]["points_at_crop_size"], ISSUE_POINTS, atol=0.05)
    assert (t["crop256"]["stored_size"], t["crop256"]["margin"]) == (260, 2)
    assert t["crop256"]["border_value"] == 127 and t["crop112"]["border_value"] == 0
    assert t["mouth"]["box_in_crop256"][:2] == [round(v, 4) for v in DAVS_TEMPLATE.mouth]
    crops = decode_stream(w.files, "crop256")
    assert crops.shape == (4, 260, 260, 3)
    # outside the source frame the official grey, not black (JPEG q100: within 2 levels)
    a = w.arrays["transform256"][0].astype(np.float64)
    outside = apply_affine(a, np.array([[40.0, -6.0]]))[0] + 2  # above the frame
    x, y = np.round(outside).astype(int)
    assert 0 <= x < 260 and 0 <= y < 260  # inside the stored crop
    assert np.abs(crops[0, y, x].astype(int) - 127).max() <= 2
    # the stored landmarks are in the centred 256 crop: the anchors land near the template
    err = np.linalg.norm(anchor_points(w.arrays["landmarks_crop256"]) - ISSUE_POINTS, axis=-1)
    assert err.max() < 0.12 * 77.6


def test_clip_of_fits_equals_the_official_transform_per_frame():
    # align_transforms fits every frame of a clip in one vectorised call
    rng = np.random.default_rng(7)
    base = np.array([[100.0, 120.0], [150.0, 118.0], [126.0, 180.0]])
    anchors = base + rng.normal(0, 6, (20, 3, 2))
    a256 = align_transforms(anchors, "davs256", 256)
    for t in range(20):
        m = official_matrix(anchors[t])
        got = official_points_256(m, anchors[t])
        np.testing.assert_allclose(apply_affine(a256[t], anchors[t]), got, atol=1e-6)
