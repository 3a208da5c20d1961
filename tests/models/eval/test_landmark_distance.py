"""LMD (DVAE Sec. 4.3): the arithmetic by hand, and landmarks from avprep's face stage on a
real face whose generated copy is moved by a known amount."""

import cv2
import numpy as np
import pytest
import skimage.data

from models.eval.landmark_distance import (
    CropLandmarker,
    clip_lmd,
    lmd_over_clips,
    mouth_landmark_distance,
)


def test_lmd_by_hand():
    real = np.zeros((2, 68, 2))
    fake = np.zeros((2, 68, 2))
    fake[0, 48:68] = [3.0, 4.0]  # every mouth point 5 px away in frame 0
    fake[1, 48] = [0.0, 2.0]  # one point 2 px away in frame 1
    fake[:, :48] = 100.0  # points outside the mouth do not count
    assert mouth_landmark_distance(real, fake) == pytest.approx((5.0 * 20 + 2.0) / 40)
    assert mouth_landmark_distance(real[:, 48:68], fake[:, 48:68]) == pytest.approx(2.55)
    fake[1] = np.nan  # a frame without a face is skipped
    assert mouth_landmark_distance(real, fake) == pytest.approx(5.0)
    assert np.isnan(mouth_landmark_distance(real[:1] * np.nan, fake[:1]))
    with pytest.raises(ValueError):
        mouth_landmark_distance(real, fake[:, :30])


def test_set_lmd_is_mean_over_clips():
    per = [
        {"lmd": 1.0, "frames_missing": 0},
        {"lmd": 3.0, "frames_missing": 2},
        {"lmd": float("nan"), "frames_missing": 5},
    ]
    out = lmd_over_clips(per)
    assert out["lmd"] == 2.0 and out["clips_without_face"] == 1 and out["frames_missing"] == 7


@pytest.fixture(scope="module")
def face_crops():
    photo = skimage.data.astronaut()
    crop = cv2.resize(photo[20:260, 100:340], (256, 256))  # the face fills the crop
    real = np.stack([crop, crop])
    shift = np.float32([[1, 0, 3], [0, 1, -2]])
    fake = np.stack(
        [cv2.warpAffine(c, shift, (256, 256), borderMode=cv2.BORDER_REPLICATE) for c in real]
    )
    return real, fake


@pytest.fixture(scope="module")
def dlib_landmarker():
    pytest.importorskip("dlib")
    lm = CropLandmarker("dlib")
    try:
        lm.setup()
    except FileNotFoundError as e:  # pragma: no cover - the model ships with the dev install
        pytest.skip(str(e))
    return lm


def test_lmd_of_a_known_shift(face_crops, dlib_landmarker):
    real, fake = face_crops
    same = clip_lmd(real, real, dlib_landmarker)
    assert same["lmd"] == 0.0 and same["frames_missing"] == 0
    moved = clip_lmd(real, fake, dlib_landmarker)
    # every landmark moved by (3, -2): |d| = 3.61 px, up to the predictor's own jitter
    assert moved["lmd"] == pytest.approx(np.hypot(3, 2), abs=0.8)
    lr, lf = dlib_landmarker(real), dlib_landmarker(fake)
    np.testing.assert_allclose((lf - lr)[:, 48:68].mean((0, 1)), [3, -2], atol=0.8)


def test_frames_without_a_face_are_counted(face_crops, dlib_landmarker):
    real, _ = face_crops
    blank = real.copy()
    blank[1] = 128
    out = clip_lmd(real, blank, dlib_landmarker)
    assert out["frames_missing"] == 1 and out["lmd"] == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        clip_lmd(real, real[:1], dlib_landmarker)


def test_fan_without_weights_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="FAN weights"):
        CropLandmarker("fan").setup()
