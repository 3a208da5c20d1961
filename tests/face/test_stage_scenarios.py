"""The face stage on animated real faces: the cases a corpus throws at it."""

import numpy as np
import pytest
import skimage.data

from avprep.clips import ClipRejected
from avprep.face.alignment import anchor_points, apply_affine, invert_affine
from avprep.face.crop_codec import decode_stream
from avprep.face.known_motion import (
    ASTRONAUT_FACE,
    HOPPER_FACE,
    animate,
    astronaut,
    hopper,
    moving_astronaut,
    placement,
    render,
    still_astronaut,
)
from avprep.face.tracking import DETECTED, INTERPOLATED, MISSING, TRACKED


def two_faces(n: int, astro_width: float, hopper_width: float, size=(480, 270)):
    """Astronaut on the left, Grace Hopper on the right, both drifting slowly."""
    w, h = size
    frames, ga, gh = [], [], []
    for t in range(n):
        a = placement(ASTRONAUT_FACE, (w * 0.28 + 0.4 * t, h * 0.5), astro_width, 0.0)
        b = placement(HOPPER_FACE, (w * 0.72 - 0.4 * t, h * 0.5 + 0.3 * t), hopper_width, 0.0)
        left = render(astronaut(), a, size)
        frame = render(hopper(), b, size, background=left)
        # keep the astronaut where the two photos overlap on her side
        frame[:, : w // 2] = left[:, : w // 2]
        frames.append(frame)
        ga.append(a)
        gh.append(b)
    return np.stack(frames), np.stack(ga), np.stack(gh)


@pytest.mark.parametrize("bigger", ["hopper", "astronaut"])
def test_two_faces_track_stays_on_one(run_stage, bigger):
    widths = (90, 120) if bigger == "hopper" else (120, 90)
    frames, ga, gh = two_faces(25, *widths)
    w = run_stage(frames)
    assert w.manifest["n_faces"] == 2
    assert w.meta["face"]["n_faces"] == 2 and "largest" in w.meta["face"]["speaker_rule"]
    g, face = (gh, HOPPER_FACE) if bigger == "hopper" else (ga, ASTRONAUT_FACE)
    centre = apply_affine(g, np.repeat(np.array([face[:2]])[None], len(g), 0))[:, 0]
    lm_centre = np.nanmean(w.arrays["landmarks_src"], axis=1)
    assert w.arrays["face_ok"].all()
    # every frame's landmarks sit on the chosen face (within half its width)
    assert (np.linalg.norm(lm_centre - centre, axis=1) < 0.5 * min(widths)).all()


def test_face_leaving_the_frame(run_stage):
    n, size = 40, (256, 256)

    def path(t):  # still for 10 frames, then slides out to the right by frame ~30
        x = 128 + max(0, t - 10) * 11.0
        return (x, 128), 110, 0.0

    frames, gs = animate(astronaut(), ASTRONAUT_FACE, n, size, path)
    w = run_stage(frames, min_good_fraction=0.25)
    ok, state = w.arrays["face_ok"], w.arrays["face_state"]
    assert ok[:12].all()
    centre_x = apply_affine(gs, np.repeat(np.array([[ASTRONAUT_FACE[:2]]]), n, 0))[:, 0, 0]
    gone = centre_x - 0.5 * 110 > 256  # whole face box outside
    assert gone[-5:].all() and not ok[gone].any()
    assert (state[gone] == MISSING).all()
    assert np.isnan(w.arrays["landmarks_src"][gone]).all()
    # no frame where half the face is outside is marked good
    assert not ok[centre_x > 256].any()
    assert w.manifest["good_run_start"] == 0 and w.manifest["good_run_length"] == int(ok.sum())
    # every stream still has one crop per frame
    assert decode_stream(w.files, "crop112").shape[0] == n


def test_tiny_face_found_with_upsampling_then_rejected_as_too_small(run_stage):
    frames, _ = still_astronaut(6, size=(160, 120), width=48)
    w = run_stage(frames)  # dlib's HOG needs ~80 px at 1x: found at 2x
    assert w.arrays["face_ok"].all()
    with pytest.raises(ClipRejected) as e:
        run_stage(frames, min_face_size=64)
    assert e.value.reason == "face_too_small"


def test_face_too_tiny_to_detect_is_no_face(run_stage):
    frames, _ = still_astronaut(6, size=(96, 96), width=14)
    with pytest.raises(ClipRejected) as e:
        run_stage(frames)
    assert e.value.reason == "no_face"


@pytest.mark.parametrize(
    "image", [skimage.data.chelsea(), skimage.data.coffee(), np.zeros((120, 160, 3), np.uint8)]
)
def test_no_face_is_rejected(run_stage, image):
    frames = np.repeat(image[None], 8, axis=0)
    with pytest.raises(ClipRejected) as e:
        run_stage(frames)
    assert e.value.reason == "no_face"


def test_grayscale_frames(run_stage):
    frames, _ = moving_astronaut(15)
    gray = frames.mean(-1).astype(np.uint8)
    for f in (np.repeat(gray[..., None], 3, -1), gray):
        w = run_stage(f)
        assert w.arrays["face_ok"].all()
        crop = decode_stream(w.files, "crop256")
        assert crop.shape == (15, 260, 260, 3)


def test_odd_sized_frames(run_stage):
    frames, gs = moving_astronaut(12, size=(257, 193))
    w = run_stage(frames)
    assert w.arrays["face_ok"].all()
    assert decode_stream(w.files, "crop256").shape == (12, 260, 260, 3)
    assert decode_stream(w.files, "crop112").shape == (12, 112, 112, 3)
    assert decode_stream(w.files, "mouth").shape == (12, 96, 96, 3)


def test_extreme_pose_filter(run_stage):
    frames, _ = still_astronaut(10, angle=20.0)
    w = run_stage(frames)
    roll = w.arrays["pose"][:, 2]
    assert np.all(np.abs(roll) > 12)
    with pytest.raises(ClipRejected) as e:
        run_stage(frames, max_roll=10.0)
    assert e.value.reason == "extreme_pose"


def test_short_gap_interpolated(run_stage):
    frames, gs = moving_astronaut(30)
    frames = frames.copy()
    frames[12:14] = 90  # the face vanishes for two frames (a blink of the camera)
    w = run_stage(frames, detect_every=1)
    state = w.arrays["face_state"]
    assert (state[12:14] == INTERPOLATED).all()
    assert w.arrays["face_ok"].all()
    # interpolated positions are near the true (moving) ones
    photo = apply_affine(invert_affine(gs[0]), anchor_points(w.arrays["landmarks_src"][0]))
    truth = apply_affine(gs[12:14], np.repeat(photo[None], 2, 0))
    assert (
        np.linalg.norm(anchor_points(w.arrays["landmarks_src"][12:14]) - truth, axis=-1).max() < 4
    )


def test_long_gap_flagged(run_stage):
    frames, _ = moving_astronaut(30)
    frames = frames.copy()
    frames[10:20] = 90
    w = run_stage(frames, detect_every=1, min_good_fraction=0.5)
    state, ok = w.arrays["face_state"], w.arrays["face_ok"]
    assert (state[10:20] == MISSING).all() and not ok[10:20].any()
    assert np.isin(state[:10], (DETECTED, TRACKED)).all()
    assert w.manifest["good_run_length"] == 10


def test_outputs_contract(run_stage):
    frames, _ = moving_astronaut(10)
    w = run_stage(frames, image_format="jpg")
    t = 10
    shapes = {
        "landmarks_src": (t, 68, 2),
        "landmarks_crop256": (t, 68, 2),
        "landmarks_crop112": (t, 68, 2),
        "landmarks_mouth": (t, 20, 2),
        "transform256": (t, 2, 3),
        "transform112": (t, 2, 3),
        "transform_mouth": (t, 2, 3),
        "face_box": (t, 4),
        "pose": (t, 3),
        "face_ok": (t,),
        "face_state": (t,),
    }
    assert {k: v.shape for k, v in w.arrays.items()} == shapes
    assert w.arrays["face_ok"].dtype == bool and w.arrays["face_state"].dtype == np.uint8
    assert len(w.files) == 3 * t
    assert all(name.count(".") == 1 and name.endswith(".jpg") for name in w.files)
    assert "crop256_00000.jpg" in w.files and "mouth_00009.jpg" in w.files
    meta = w.meta["face"]
    for k in (
        "face_backend",
        "dlib",
        "template",
        "n_faces",
        "detect_calls",
        "track_calls",
        "good_run_start",
        "good_run_length",
        "speaker_rule",
    ):
        assert k in meta
    assert set(w.manifest) == {"n_faces", "good_run_start", "good_run_length"}


def test_mp4_format(run_stage):
    frames, _ = moving_astronaut(10)
    w = run_stage(frames)  # the default
    assert sorted(w.files) == ["crop112.mp4", "crop256.mp4", "mouth.mp4"]
    jw = run_stage(frames, image_format="jpg")
    a = decode_stream(w.files, "crop256").astype(float)
    b = decode_stream(jw.files, "crop256").astype(float)
    assert a.shape == b.shape and np.abs(a - b).mean() < 4.0
    # the settings reach x264 (it writes them into every stream) and the sample records them:
    # no inter sub-partitions (analyse flags 0x3 = i4x4 + i8x8; veryfast's own is 0x113), no
    # macroblock tree, fixed B-frames, no scene-cut search
    for name, data in w.files.items():
        options = _x264_options(data)
        for want in (" analyse=0x3:0x3 ", " mbtree=0 ", " b_adapt=0 ", " scenecut=0 "):
            assert want in options, (name, want, options)
    assert (
        w.meta["face"]["crop_x264"]
        == "veryfast crf 18 mbtree=0:partitions=i8x8,i4x4:b-adapt=0:scenecut=0"
    )
    assert w.meta["face"]["opencv"] and "crop_x264" not in jw.meta["face"]


def _x264_options(mp4: bytes) -> str:
    """The settings x264 wrote into the stream (its SEI user data)."""
    return mp4[mp4.index(b"options: ") :].split(b"\x00")[0].decode()


def test_mp4_preset_asked_for_is_x264s_own(run_stage):
    # a preset asked for explicitly keeps x264's own partitions (faster: sub-partitions and
    # subme 4), always without the macroblock tree; the sample records it
    frames, _ = moving_astronaut(6)
    w = run_stage(frames, mp4_preset="faster", mp4_crf=20)
    opts = _x264_options(w.files["crop256.mp4"])
    assert " analyse=0x3:0x113 " in opts and " subme=4 " in opts and " mbtree=0 " in opts
    assert " b_adapt=1 " in opts and " scenecut=40 " in opts
    assert " crf=20.0" in opts
    assert w.meta["face"]["crop_x264"] == "faster crf 20 mbtree=0"


@pytest.mark.parametrize("bad", [{"mp4_preset": "turbo"}, {"mp4_crf": 60}])
def test_bad_mp4_settings_refused(bad):
    from avprep.face import FaceConfig

    with pytest.raises(ValueError, match="mp4_"):
        FaceConfig(**bad).validate()


def test_odd_crop_sizes_refused_for_mp4_only():
    from avprep.face import FaceConfig

    for name in ("mouth_size", "crop_size_cran"):
        with pytest.raises(ValueError, match=f"{name} must be even for MP4"):
            FaceConfig(**{name: 95}).validate()
        FaceConfig(**{name: 95}, image_format="jpg").validate()
        FaceConfig(**{name: 90}).validate()  # even; its chroma planes have odd heights


def test_rejected_clip_writes_nothing(run_stage):
    from avprep.face import FaceConfig, FaceStage
    from avprep.face.known_motion import make_work

    w = make_work(np.repeat(skimage.data.coffee()[None], 5, 0))
    with pytest.raises(ClipRejected):
        FaceStage(FaceConfig()).process(w)
    assert not w.files and not w.arrays and not w.meta and not w.manifest
