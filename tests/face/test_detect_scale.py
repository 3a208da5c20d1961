"""Cheaper keyframe detection (the first detection's hints reused on later keyframes; verify
keyframes searched in a window around the tracked face) finds the same face, with landmarks as
close to the ground truth as a full-frame search, and still finds a face lost and back."""

from __future__ import annotations

import numpy as np
import pytest

from avprep.face import FaceConfig
from avprep.face.alignment import anchor_points
from avprep.face.backends import DlibFaceDetector, DlibLandmarker
from avprep.face.known_motion import ASTRONAUT_FACE, animate, astronaut, still_astronaut
from avprep.face.tracking import (
    DETECT_FACE_WIDTH,
    MISSING,
    ROI_FACE_WIDTH,
    ROI_SIDE,
    TRACKED,
    track_speaker,
)


class _CountingDetector(DlibFaceDetector):
    """Records the pixel count and upsampling of every dlib call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, int]] = []

    def _run(self, gray, upsample):
        self.calls.append((gray.shape[0] * gray.shape[1], upsample))
        return super()._run(gray, upsample)


def _walk(n: int, size: tuple[int, int], width: float):
    w, h = size
    return animate(
        astronaut(), ASTRONAUT_FACE, n, size,
        lambda t: ((w / 2 + 40 * np.sin(t / 8), h / 2), width * (1 + 0.1 * np.sin(t / 6)), 0.0),
    )  # fmt: skip


def _eye_mouth_error(lms: np.ndarray, gs: np.ndarray) -> np.ndarray:
    """Per frame, distance (px) of the landmark eye/mouth anchors from the same anchors of
    frame 0 moved by the ground-truth motion (frame 0 -> t)."""
    a0 = anchor_points(lms[:1])[0]
    g0 = np.vstack([gs[0], [0, 0, 1]])
    moved = np.stack([g @ np.linalg.inv(g0) for g in gs])  # (T,2,3): frame 0 -> frame t
    expect = np.einsum("tij,kj->tki", moved[:, :, :2], a0) + moved[:, None, :, 2]
    return np.linalg.norm(anchor_points(lms) - expect, axis=-1).max(-1)


def test_large_face_keyframes_searched_downscaled_same_landmarks():
    frames, gs = _walk(20, (960, 540), 300.0)
    lm = DlibLandmarker()
    results = {}
    for scaled in (False, True):
        det = _CountingDetector()
        results[scaled] = (track_speaker(frames, det, lm, 5, detect_scaled=scaled), det.calls)
    (full, full_calls), (fast, fast_calls) = results[False], results[True]
    assert (fast.state == full.state).all() and np.isin(fast.state, (0, TRACKED)).all()
    # the first keyframe searches the whole frame, later ones a frame where the face is ~100 px
    assert fast_calls[0][0] == 960 * 540
    assert all(px < 960 * 540 * (1.5 * DETECT_FACE_WIDTH / 270) ** 2 for px, _ in fast_calls[1:])
    assert sum(px for px, _ in fast_calls) < 0.3 * sum(px for px, _ in full_calls)
    err_full, err_fast = _eye_mouth_error(full.landmarks, gs), _eye_mouth_error(fast.landmarks, gs)
    assert err_fast.max() < 0.03 * 300 and err_fast.mean() < err_full.mean() + 0.005 * 300


def test_small_face_keyframes_start_at_the_upsampling_that_found_it():
    frames, _ = still_astronaut(n=11, size=(256, 256), width=50)
    det = _CountingDetector()
    res = track_speaker(frames, det, DlibLandmarker(), 5)
    assert res.n_tracks == 1 and (res.state == 0).sum() == 3  # keyframes 0, 5, 10
    # frame 0: 1x finds nothing, 2x finds the face; keyframes 5 and 10 go straight to 2x
    assert [u for _, u in det.calls] == [0, 1, 1, 1]


def test_verify_keyframes_search_a_window_around_the_face():
    frames, gs = _walk(30, (960, 540), 300.0)
    lm = DlibLandmarker()
    runs = {}
    for full_every in (0, 25):
        det = _CountingDetector()
        runs[full_every] = (track_speaker(frames, det, lm, 5, True, full_every), det.calls)
    (old, old_calls), (new, new_calls) = runs[0], runs[25]
    assert old.roi_detect_calls == 0 and len(old_calls) == 7  # keyframes 0, 5, ..., 25, 29
    # frames 0 and 25 searched whole (0 at full size); 5, 10, 15, 20 and 29 in a window
    assert new.roi_detect_calls == 5 and len(new_calls) == 7
    assert new_calls[0][0] == 960 * 540
    assert new_calls[1][0] > (960 * 540) * (DETECT_FACE_WIDTH / 300) ** 2 * 0.8  # frame 25
    window = (ROI_SIDE * ROI_FACE_WIDTH * 1.2) ** 2  # the window, at the 90 px face scale
    assert all(px < window for px, _ in new_calls[2:])
    assert (new.state == old.state).all() and (new.state == 0).sum() == 7
    err_old, err_new = _eye_mouth_error(old.landmarks, gs), _eye_mouth_error(new.landmarks, gs)
    assert err_new.max() < 0.03 * 300 and err_new.mean() < err_old.mean() + 0.005 * 300


def test_face_lost_between_full_keyframes_is_reacquired_at_the_next_keyframe():
    # the face is hidden (grey frames) in frames 8..12: tracking loses it at the verify
    # keyframe 10; keyframe 15 is not a full keyframe (25 is) but searches the whole frame
    # because nothing is tracked, and picks up the speaker again
    frames, _ = still_astronaut(30, size=(256, 256), width=110)
    frames = frames.copy()
    frames[8:13] = 90
    res = track_speaker(frames, DlibFaceDetector(), DlibLandmarker(), 5, True, 25)
    assert (res.state[8:13] == MISSING).all()
    assert res.state[15] == 0 and np.isin(res.state[16:25], (0, TRACKED)).all()
    assert np.isin(res.state[:8], (0, TRACKED)).all() and (res.state[13:15] == MISSING).all()


def test_full_keyframes_without_a_face_fall_back_to_searching_every_keyframe():
    # the face is only in frames 3..20: neither full keyframe (0, 25) sees it
    frames, _ = still_astronaut(30, size=(256, 256), width=110)
    frames = frames.copy()
    frames[:3] = 90
    frames[21:] = 90
    det = _CountingDetector()
    res = track_speaker(frames, det, DlibLandmarker(), 5, True, 25)
    assert res.n_tracks == 1 and res.state[5] == 0 and (res.state[:3] == MISSING).all()
    assert np.isin(res.state[5:21], (0, TRACKED)).all()


def test_full_detect_every_must_not_be_negative():
    FaceConfig(full_detect_every=0).validate()  # 0: every keyframe searched whole
    with pytest.raises(ValueError, match="full_detect_every"):
        FaceConfig(full_detect_every=-1).validate()
