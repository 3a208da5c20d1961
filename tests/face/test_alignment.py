"""Similarity fit against scikit-image, template geometry, and the moving-astronaut crops."""

import numpy as np
import pytest
from skimage.transform import SimilarityTransform

from avprep.face.alignment import (
    anchor_points,
    apply_affine,
    compose_affine,
    invert_affine,
    similarity_transform,
    warp_crop,
    warp_crops,
)
from avprep.face.crop_codec import decode_stream
from avprep.face.known_motion import ASTRONAUT_FACE, moving_astronaut, still_astronaut
from avprep.face.templates import template_points


def test_similarity_matches_skimage():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (3, 2))
    dst = rng.uniform(0, 100, (3, 2))
    ref = SimilarityTransform.from_estimate(src, dst)
    np.testing.assert_allclose(similarity_transform(src, dst), ref.params[:2], atol=1e-9)


def test_exact_similarity_recovered_and_inverted():
    a = np.array(
        [
            [0.8 * np.cos(0.3), -0.8 * np.sin(0.3), 12.0],
            [0.8 * np.sin(0.3), 0.8 * np.cos(0.3), -4.0],
        ]
    )
    src = np.array([[10.0, 20.0], [50.0, 22.0], [31.0, 70.0]])
    fit = similarity_transform(src, apply_affine(a, src))
    np.testing.assert_allclose(fit, a, atol=1e-9)
    back = apply_affine(invert_affine(a), apply_affine(a, src))
    np.testing.assert_allclose(back, src, atol=1e-9)
    np.testing.assert_allclose(
        compose_affine(invert_affine(a), a), [[1, 0, 0], [0, 1, 0]], atol=1e-12
    )


def test_warp_crop_geometry_hand_worked():
    # a single white pixel at (x=30, y=10) moves to (5, 7) under a pure translation
    img = np.zeros((40, 50, 3), np.uint8)
    img[10, 30] = 255
    crop = warp_crop(img, np.array([[1.0, 0, -25], [0, 1.0, -3]]), 16)
    assert crop.shape == (16, 16, 3)
    assert tuple(np.argwhere(crop[..., 0] == 255)[0]) == (7, 5)


def test_warp_crops_in_one_rgba_pass_are_the_per_frame_rgb_warps():
    # the stage warps RGBA frames (OpenCV's fast bilinear path): every byte must equal the
    # RGB warp, for upscaling, rotation, crops reaching outside the frame, and the area
    # downscale path (scale < 0.5)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 90, 120, 3), dtype=np.uint8)
    frames[3:] = frames[3:] // 2 + 60  # some smoother content too
    specs = []
    for size, border, scale in ((38, 127, 1.4), (20, 0, 0.7), (12, 127, 0.3)):
        th = rng.uniform(-0.5, 0.5, len(frames))
        a = np.zeros((len(frames), 2, 3))
        a[:, 0, 0], a[:, 0, 1] = scale * np.cos(th), -scale * np.sin(th)
        a[:, 1, 0], a[:, 1, 1] = scale * np.sin(th), scale * np.cos(th)
        a[:, :, 2] = rng.uniform(-40, 10, (len(frames), 2))
        specs.append((a, size, border))
    outs = warp_crops(frames, specs)
    for (a, size, border), out in zip(specs, outs, strict=True):
        assert out.shape == (len(frames), size, size, 3) and out.flags.c_contiguous
        for t, f in enumerate(frames):
            assert np.array_equal(out[t], warp_crop(f, a[t], size, border))
    assert (outs[0] == 127).any() and (outs[1] == 0).any()  # borders were reached


@pytest.fixture(scope="module")
def moving(stage_module):
    frames, gs = moving_astronaut(30)
    return frames, gs, stage_module(frames)


@pytest.fixture(scope="module")
def stage_module():
    from avprep.face import FaceConfig, FaceStage
    from avprep.face.known_motion import make_work

    s = FaceStage(FaceConfig())

    def run(frames):
        w = make_work(frames)
        s.process(w)
        return w

    return run


def test_every_frame_of_moving_astronaut_is_good(moving):
    _, _, w = moving
    assert w.arrays["face_ok"].all()
    assert w.manifest == {"n_faces": 1, "good_run_start": 0, "good_run_length": 30}


def test_landmarks_follow_ground_truth_motion(moving, stage_module):
    """Landmarks in every moved frame = still-face landmarks carried by the known motion."""
    frames, gs, w = moving
    still_frames, still_g = still_astronaut(5)
    still = stage_module(still_frames)
    # still-face anchors in photo coordinates
    photo = apply_affine(invert_affine(still_g[0]), anchor_points(still.arrays["landmarks_src"][2]))
    expected = apply_affine(gs, np.repeat(photo[None], len(gs), 0))
    got = anchor_points(w.arrays["landmarks_src"])
    err = np.linalg.norm(got - expected, axis=-1)
    assert err.max() < 3.0, err.max()


def test_eyes_and_mouth_land_on_templates(moving):
    _, _, w = moving
    for name, key, size in (
        ("davs256", "landmarks_crop256", 256),
        ("cran112", "landmarks_crop112", 112),
    ):
        an = anchor_points(w.arrays[key])
        tpl = template_points(name, size)
        err = np.linalg.norm(an - tpl, axis=-1)
        # a similarity cannot fit 3 points exactly: what is left is this face's proportions
        # (the templates are a mean face): a few pixels, 12% of the eye distance at most
        assert err.max() < 0.12 * np.linalg.norm(tpl[1] - tpl[0]), (name, err.max())
        # and it is the same in every frame: alignment removes the motion
        assert (err.max(0) - err.min(0)).max() < 0.01 * size + 1.0


def test_aligned_crops_of_moved_face_match_still_face(moving, stage_module):
    _, _, w = moving
    still_frames, _ = still_astronaut(5)
    still = stage_module(still_frames)
    for stream, size in (("crop256", 260), ("crop112", 112), ("mouth", 96)):
        ref = decode_stream(still.files, stream)[2].astype(np.float32)
        moved = decode_stream(w.files, stream).astype(np.float32)
        assert moved.shape == (30, size, size, 3)
        m = size // 8  # ignore the border, where the frame edge can enter the crop
        diff = np.abs(moved[:, m:-m, m:-m] - ref[m:-m, m:-m]).mean(axis=(1, 2, 3))
        assert diff.max() < 10.0, (stream, diff.max())  # of 255; misaligned by 5 px is > 20
        shifted = np.abs(np.roll(ref, 5, axis=1)[m:-m, m:-m] - ref[m:-m, m:-m]).mean()
        assert diff.max() < shifted


def test_landmarks_crop_is_transform_of_source(moving):
    _, _, w = moving
    a = w.arrays
    np.testing.assert_allclose(
        apply_affine(a["transform256"], a["landmarks_src"]), a["landmarks_crop256"], atol=0.05
    )
    back = apply_affine(invert_affine(a["transform112"]), a["landmarks_crop112"])
    np.testing.assert_allclose(back, a["landmarks_src"], atol=0.05)


def test_face_constant_in_astronaut_photo():
    # the fixture's face box is where dlib finds it in the 512x512 photo
    import cv2
    import dlib

    from avprep.face.known_motion import astronaut

    r = dlib.get_frontal_face_detector()(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY), 1)[0]
    cx, cy, fw = ASTRONAUT_FACE
    assert abs((r.left() + r.right()) / 2 - cx) < 10 and abs((r.top() + r.bottom()) / 2 - cy) < 10
    assert abs(r.width() - fw) < 15


def test_stacked_similarity_fits_equal_skimage_frame_by_frame():
    # the stage fits a whole clip in one vectorised call: each frame's fit must be the
    # per-frame least-squares similarity (reflected frames included: the no-reflection guard
    # works per frame), with a shared template or one target per frame
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 200, (12, 5, 2))
    src[4] = src[4] * [-1.0, 1.0]  # a mirrored frame: Umeyama's det < 0 branch
    shared = rng.uniform(0, 100, (5, 2))
    per_frame = rng.uniform(0, 100, (12, 5, 2))
    for dst in (shared, per_frame):
        fits = similarity_transform(src, dst)
        assert fits.shape == (12, 2, 3)
        for t in range(12):
            d = dst if dst.ndim == 2 else dst[t]
            ref = SimilarityTransform.from_estimate(src[t], d)
            np.testing.assert_allclose(fits[t], ref.params[:2], atol=1e-9)
