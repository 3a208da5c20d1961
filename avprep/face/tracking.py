"""Follow one speaker's face through a clip: detect on keyframes, track in between.

Rule for the speaker (recorded in each sample as ``speaker_rule``): detections on the
full keyframes (below: one a second by default) are linked into face tracks
(nearest centre within 0.7 face widths, size ratio within 1.5x, gaps up to 2 s);
each track scores the sum over its keyframes of ``box area x (1 - 0.5 x distance of the box
centre from the frame centre / half the frame diagonal)``. The highest score wins: the most
continuous face first, then the largest, then the most central. Only that track is followed.

Detection cost: the first detection of a clip searches the whole frame (upsampled when
nothing is found in a small frame); later keyframes reuse what it learnt: they start at the
upsampling that found the faces, and search a frame downscaled so that the smallest face seen
is ``DETECT_FACE_WIDTH`` (100) px wide (dlib's window is 80 px), falling back to the full frame
when that finds nothing. A 1080p clip with 300 px faces then detects on a ~10x smaller image.

Only every ``full_detect_every``-th frame (25: once a second) is a *full* keyframe, searched
whole: those detections are what tracks are linked from and the speaker chosen by. The other
keyframes (every ``detect_every``-th frame and the last) are *verify* keyframes: the tracked
face is confirmed by a detection in a window ``ROI_SIDE`` (1.4) face boxes wide around it,
downscaled to a 90 px face (about a quarter of a full keyframe's cost on LRW-sized
clips). A verify keyframe searches the whole frame when that window finds nothing, when no
face is being tracked (re-acquiring the speaker: the candidate that links to the speaker's
nearest full-keyframe detection), or when faces need upsampling. A clip whose full keyframes
find no face at all has every keyframe searched whole, as before. ``full_detect_every = 0``
(or ``detect_scaled`` off) searches every keyframe whole.

Between keyframes the face is tracked by re-running the shape predictor from a box derived
from the previous frame's landmarks (about 1 ms a frame). A tracked frame that jumps in
scale or position, or leaves the frame, triggers a full re-detection at once; a keyframe
whose detections do not confirm the track walks back to the last confirmed frame,
re-detecting, so frames where the face had already gone are not kept. Short gaps are
interpolated and landmarks are smoothed with a zero-phase Savitzky-Golay filter (quadratic
motion passes unchanged, so smoothing adds no lag).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from avprep.face.backends import Detection, DlibFaceDetector, DlibLandmarker

SPEAKER_RULE = (
    "whole-frame keyframe detections (by default one keyframe a second) linked into tracks; "
    "speaker = track maximising "
    "sum(box area * (1 - 0.5 * centre distance / half diagonal)): most continuous, "
    "then largest, then most central"
)

# per-frame states (uint8 array ``face_state``)
DETECTED, TRACKED, INTERPOLATED, MISSING, TOO_SMALL, OUT_OF_FRAME, EXTREME_POSE = range(7)
STATE_NAMES = {
    DETECTED: "detected",
    TRACKED: "tracked",
    INTERPOLATED: "interpolated",
    MISSING: "missing",
    TOO_SMALL: "too_small",
    OUT_OF_FRAME: "out_of_frame",
    EXTREME_POSE: "extreme_pose",
}
HAS_LANDMARKS = (DETECTED, TRACKED, INTERPOLATED, TOO_SMALL, OUT_OF_FRAME, EXTREME_POSE)

LINK_MAX_CENTRE = 0.7
LINK_MAX_SIZE_RATIO = 1.5
LINK_MAX_GAP_FRAMES = 50  # 2 s at 25 fps: a face back at its place is the same face
CONFIRM_IOU = 0.3
DRIFT_MAX_SCALE = 1.25
DRIFT_MAX_SHIFT = 0.35
# after the first detection, keyframes are searched at a scale where the smallest face seen
# so far is this wide: dlib's HOG window is 80 px, and a face that shrinks by DRIFT_MAX_SCALE
# (1.25) before the next keyframe is still 100 / 1.25 = 80 px there
DETECT_FACE_WIDTH = 100.0
# a verify keyframe's search window, in tracked face boxes (square, centred on the box): the
# box comes from the previous frame's landmarks, so the face has moved one frame since
ROI_SIDE = 1.4
# and searched where that face is this wide: the face is where it was a frame ago, so no
# margin for shrinking is needed above dlib's 80 px window (pyramid steps are 6/5)
ROI_FACE_WIDTH = 90.0


@dataclass
class TrackResult:
    landmarks: np.ndarray  # (T,68,2) float32, NaN where no face
    boxes: np.ndarray  # (T,4) detector-style boxes, NaN where no face
    state: np.ndarray  # (T,) uint8: DETECTED / TRACKED / MISSING
    n_faces: int  # most faces seen at once on a keyframe searched whole
    n_tracks: int
    detect_calls: int = 0
    roi_detect_calls: int = 0  # of detect_calls: verify keyframes searched around the face
    track_calls: int = 0
    detect_seconds: float = 0.0
    track_seconds: float = 0.0
    keyframes: list[int] = field(default_factory=list)


def to_gray(frames: np.ndarray) -> np.ndarray:
    """(T,H,W,3) RGB or (T,H,W) gray uint8 -> (T,H,W) gray uint8 (contiguous)."""
    if frames.ndim == 3:
        return np.ascontiguousarray(frames)
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def iou(a: np.ndarray | tuple[float, ...], b: np.ndarray | tuple[float, ...]) -> float:
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return float(inter / union) if union > 0 else 0.0


class _BoxModel:
    """Detector-style box from landmarks: the offset/size relation seen at the last detection."""

    def __init__(self) -> None:
        self.rel = np.array([0.0, -0.1, 2.3])  # generic dlib HOG box vs landmark spread

    @staticmethod
    def _stats(lm: np.ndarray) -> tuple[np.ndarray, float]:
        c = lm.mean(0)
        s = float(np.sqrt(((lm - c) ** 2).sum(1).mean()))
        return c, max(s, 1e-3)

    def update(self, box: tuple[float, ...], lm: np.ndarray) -> None:
        c, s = self._stats(lm)
        bc = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        self.rel = np.array([(bc[0] - c[0]) / s, (bc[1] - c[1]) / s, (box[2] - box[0]) / s])

    def box(self, lm: np.ndarray) -> np.ndarray:
        c, s = self._stats(lm)
        cx, cy = c[0] + self.rel[0] * s, c[1] + self.rel[1] * s
        half = self.rel[2] * s / 2
        return np.array([cx - half, cy - half, cx + half, cy + half])


def link_tracks(
    dets: dict[int, list[Detection]], keyframes: list[int]
) -> list[list[tuple[int, Detection]]]:
    """Greedy linking of keyframe detections into face tracks (see module doc)."""
    tracks: list[list[tuple[int, Detection]]] = []
    last_key: list[int] = []
    for k in keyframes:
        taken: set[int] = set()
        for d in sorted(dets.get(k, []), key=lambda d: -d.width):
            c = np.array([(d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2])
            best, best_dist = -1, np.inf
            for ti, tr in enumerate(tracks):
                if ti in taken or k - last_key[ti] > LINK_MAX_GAP_FRAMES:
                    continue
                p = tr[-1][1]
                pc = np.array([(p.box[0] + p.box[2]) / 2, (p.box[1] + p.box[3]) / 2])
                ratio = max(d.width, p.width) / max(min(d.width, p.width), 1e-3)
                dist = float(np.linalg.norm(c - pc)) / max(p.width, 1e-3)
                if ratio <= LINK_MAX_SIZE_RATIO and dist <= LINK_MAX_CENTRE and dist < best_dist:
                    best, best_dist = ti, dist
            if best < 0:
                tracks.append([(k, d)])
                last_key.append(k)
                taken.add(len(tracks) - 1)
            else:
                tracks[best].append((k, d))
                last_key[best] = k
                taken.add(best)
    return tracks


def speaker_score(track: list[tuple[int, Detection]], width: int, height: int) -> float:
    half_diag = 0.5 * float(np.hypot(width, height))
    score = 0.0
    for _, d in track:
        x0, y0, x1, y1 = d.box
        dist = float(np.hypot((x0 + x1) / 2 - width / 2, (y0 + y1) / 2 - height / 2))
        score += (x1 - x0) * (y1 - y0) * (1.0 - 0.5 * min(1.0, dist / half_diag))
    return score


def _outside_fraction(lm: np.ndarray, width: int, height: int) -> float:
    out = (lm[:, 0] < 0) | (lm[:, 0] > width - 1) | (lm[:, 1] < 0) | (lm[:, 1] > height - 1)
    return float(out.mean())


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between box centres, in widths of ``a``."""
    d = (b[:2] + b[2:] - a[:2] - a[2:]) / 2
    return float(np.hypot(d[0], d[1]) / max(a[2] - a[0], 1e-3))


def track_speaker(
    frames: np.ndarray,
    detector: DlibFaceDetector,
    predictor: DlibLandmarker,
    detect_every: int = 5,
    detect_scaled: bool = True,
    full_detect_every: int = 25,
) -> TrackResult:
    """Landmarks of the speaker's face in every frame where it can be found (see module doc)."""
    gray = to_gray(frames)
    n, h, w = gray.shape[:3]
    lms = np.full((n, 68, 2), np.nan, dtype=np.float32)
    boxes = np.full((n, 4), np.nan, dtype=np.float32)
    state = np.full(n, MISSING, dtype=np.uint8)
    res = TrackResult(lms, boxes, state, 0, 0)
    if n == 0:
        return res
    keyframes = list(range(0, n, detect_every))
    if keyframes[-1] != n - 1:
        keyframes.append(n - 1)
    res.keyframes = keyframes

    # what earlier detections in this clip tell the detector (see DlibFaceDetector.detect):
    # the upsampling that found faces, and the smallest face seen
    level, smallest = 0, np.inf  # inf: nothing seen yet, search the full frame

    def detect(t: int) -> list[Detection]:
        nonlocal level, smallest
        t0 = time.perf_counter()
        scale = 1.0
        if detect_scaled and level == 0 and np.isfinite(smallest):
            scale = min(1.0, DETECT_FACE_WIDTH / smallest)
        out = detector.detect(gray[t], level, scale)
        if out:
            level = max(level, max(d.upsample for d in out))
            smallest = min(smallest, min(d.width for d in out))
        res.detect_seconds += time.perf_counter() - t0
        res.detect_calls += 1
        return out

    roi_ok = detect_scaled and full_detect_every > 0
    if roi_ok:  # the first keyframe of every full_detect_every frames is searched whole
        full = [
            k
            for i, k in enumerate(keyframes)
            if i == 0 or k // full_detect_every != keyframes[i - 1] // full_detect_every
        ]
    else:
        full = keyframes
    dets = {k: detect(k) for k in full}
    tracks = link_tracks(dets, full)
    if not tracks and len(full) < len(keyframes):  # nothing on the full keyframes: search all
        dets.update({k: detect(k) for k in keyframes if k not in dets})
        tracks = link_tracks(dets, keyframes)
    res.n_faces = max(len(v) for v in dets.values())
    res.n_tracks = len(tracks)
    if not tracks:
        return res
    speaker = max(tracks, key=lambda tr: speaker_score(tr, w, h))
    speaker_det = dict(speaker)
    keyset = set(keyframes)
    model = _BoxModel()

    def detect_near(t: int, box: np.ndarray) -> list[Detection]:
        """Faces in a window ``ROI_SIDE`` boxes wide around ``box`` (frame pixels), searched
        at the 90 px face scale; the whole frame when that cannot apply or finds nothing."""
        if not roi_ok or level > 0:
            return detect(t)
        t0 = time.perf_counter()
        bw = float(box[2] - box[0])
        half = 0.5 * ROI_SIDE * bw
        cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
        x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
        x1, y1 = min(w, int(np.ceil(cx + half))), min(h, int(np.ceil(cy + half)))
        out: list[Detection] = []
        scale = min(1.0, ROI_FACE_WIDTH / max(bw, 1.0))
        if min(x1 - x0, y1 - y0) * scale >= 80:  # dlib's window must fit
            found = detector.detect_window(gray[t, y0:y1, x0:x1], scale)
            out = [Detection((d.box[0] + x0, d.box[1] + y0, d.box[2] + x0, d.box[3] + y0),
                             d.score, d.upsample) for d in found]  # fmt: skip
        res.detect_seconds += time.perf_counter() - t0
        res.detect_calls += 1
        res.roi_detect_calls += 1
        return out or detect(t)

    def reacquire(t: int) -> Detection | None:
        """At a verify keyframe with no face tracked: a whole-frame detection that links to
        the speaker's nearest full-keyframe detection (the linking rule of link_tracks)."""
        near = [k for k in speaker_det if abs(k - t) <= LINK_MAX_GAP_FRAMES]
        if not near:
            return None
        p = speaker_det[min(near, key=lambda k: abs(k - t))]
        pc = np.array([(p.box[0] + p.box[2]) / 2, (p.box[1] + p.box[3]) / 2])
        best, best_dist = None, np.inf
        for d in detect(t):
            c = np.array([(d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2])
            ratio = max(d.width, p.width) / max(min(d.width, p.width), 1e-3)
            dist = float(np.linalg.norm(c - pc)) / max(p.width, 1e-3)
            if ratio <= LINK_MAX_SIZE_RATIO and dist <= LINK_MAX_CENTRE and dist < best_dist:
                best, best_dist = d, dist
        return best

    def landmarks_from(t: int, box: np.ndarray | tuple[float, ...]) -> np.ndarray:
        t0 = time.perf_counter()
        lm = predictor.predict(gray[t], box)
        res.track_seconds += time.perf_counter() - t0
        res.track_calls += 1
        return lm

    def confirm(cands: list[Detection], box: np.ndarray) -> Detection | None:
        scored = [(iou(d.box, box), d) for d in cands]
        scored = [s for s in scored if s[0] >= CONFIRM_IOU]
        return max(scored, key=lambda s: s[0])[1] if scored else None

    def accept_detection(t: int, d: Detection) -> np.ndarray:
        lm = landmarks_from(t, d.box)
        model.update(d.box, lm)
        lms[t], boxes[t], state[t] = lm, d.box, DETECTED
        return lm

    prev: np.ndarray | None = None
    last_confirmed = -1
    for t in range(n):
        if t in keyset:
            d = speaker_det.get(t)
            if d is None and prev is not None:
                box = model.box(prev)
                d = confirm(dets[t] if t in dets else detect_near(t, box), box)
            elif d is None and t not in dets:
                d = reacquire(t)
            if d is not None:
                prev = accept_detection(t, d)
                last_confirmed = t
            else:
                if prev is not None:  # lost since the last confirmation: walk back
                    for j in range(t - 1, last_confirmed, -1):
                        if state[j] != TRACKED:
                            break
                        if confirm(detect(j), boxes[j]) is not None:
                            break
                        lms[j], boxes[j], state[j] = np.nan, np.nan, MISSING
                prev = None
            continue
        if prev is None:
            continue
        box = model.box(prev)
        lm = landmarks_from(t, box)
        new_box = model.box(lm)
        if _shift(box, new_box) > 0.05:  # moved: a second pass from the new box converges
            lm = landmarks_from(t, new_box)
            new_box = model.box(lm)
        shift = _shift(box, new_box)
        size_prev, size_new = box[2] - box[0], new_box[2] - new_box[0]
        ratio = max(size_new, size_prev) / max(min(size_new, size_prev), 1e-3)
        drift = ratio > DRIFT_MAX_SCALE or shift > DRIFT_MAX_SHIFT
        if drift or _outside_fraction(lm, w, h) > 0.5:
            d = confirm(detect(t), box)
            if d is None:
                prev = None
                continue
            prev = accept_detection(t, d)
            last_confirmed = t
            continue
        lms[t], boxes[t], state[t] = lm, new_box, TRACKED
        prev = lm
    return res


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in ``mask``."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist(), strict=True))


def fill_gaps(landmarks: np.ndarray, state: np.ndarray, max_gap: int) -> None:
    """Linearly interpolate runs of MISSING frames of length <= ``max_gap`` between faces."""
    n = len(state)
    for a, b in runs(state == MISSING):
        if a == 0 or b == n or b - a > max_gap:
            continue
        w = (np.arange(a, b) - (a - 1)) / (b - (a - 1))
        landmarks[a:b] = (1 - w)[:, None, None] * landmarks[a - 1] + w[:, None, None] * landmarks[b]
        state[a:b] = INTERPOLATED


def savgol(values: np.ndarray, window: int, order: int = 2) -> np.ndarray:
    """Savitzky-Golay smoothing along axis 0, ``window`` odd and <= len(values): what
    ``scipy.signal.savgol_filter(values, window, order, axis=0, mode="interp")`` computes
    (each frame takes the least-squares polynomial of its centred window; the first and last
    ``window // 2`` frames take the polynomial of the first / last window), in numpy, since
    importing scipy.signal costs every build worker ~0.8 s of start-up. Tested against scipy."""
    half = window // 2
    n = len(values)
    flat = values.reshape(n, -1)
    # least-squares polynomial coefficients from the window's values: (order + 1, window)
    fit = np.linalg.pinv(np.vander(np.arange(-half, half + 1.0), order + 1, increasing=True))
    out = np.empty_like(flat, dtype=np.float64)
    out[half : n - half] = sliding_window_view(flat, window, axis=0) @ fit[0]
    at = np.vander(np.arange(-half, 0.0), order + 1, increasing=True) @ fit  # t = -half .. -1
    out[:half] = at @ flat[:window]
    at = np.vander(np.arange(1.0, half + 1), order + 1, increasing=True) @ fit  # t = 1 .. half
    out[n - half :] = at @ flat[n - window :]
    return out.reshape(values.shape)


def smooth_runs(values: np.ndarray, valid: np.ndarray, window: int) -> np.ndarray:
    """Zero-phase Savitzky-Golay (order 2) over time within each run of valid frames."""
    out = values.copy()
    if window <= 2:
        return out
    for a, b in runs(valid):
        if b - a >= window:
            out[a:b] = savgol(values[a:b], window, 2)
    return out


def hold_nearest(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill invalid frames with the nearest valid frame's value (for crop transforms)."""
    idx = np.nonzero(valid)[0]
    if len(idx) == 0:
        return values.copy()
    pos = np.searchsorted(idx, np.arange(len(valid)))
    left = idx[np.clip(pos - 1, 0, len(idx) - 1)]
    right = idx[np.clip(pos, 0, len(idx) - 1)]
    t = np.arange(len(valid))
    near = np.where(np.abs(t - left) <= np.abs(right - t), left, right)
    return values[near]
