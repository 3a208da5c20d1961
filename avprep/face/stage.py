"""The face stage of ``avprep build``: frames in, aligned crops, landmarks and pose out.

Writes to the :class:`~avprep.clips.ClipWork`:

- files: crop streams ``crop256`` (DAVS/DVAE template), ``crop112`` (CRAN template),
  ``mouth``, as ``<stream>.mp4`` (default) or ``<stream>_<frame:05d>.jpg``. ``crop256`` is
  stored with ``crop_margin`` (2) extra pixels on every side, i.e. 260x260: exactly the
  official DAVS on-disk crop, whose random 256 crops (offsets 0..4) DAVS trains on, so the
  reader's augmentation shifts over real pixels instead of inventing a border. Its centre
  256x256 (offset ``crop_margin``) is the nominal crop: ``landmarks_crop256`` and
  ``transform256`` are in that centred 256 frame (the official test-time crop), and
  :func:`avprep.reader.views.crop_stored` cuts it. Pixels outside the source frame are grey
  127 in ``crop256`` and ``mouth`` (the official DAVS border), black in ``crop112``;
- arrays: ``landmarks_src`` (T,68,2) frame pixels, ``landmarks_crop256``,
  ``landmarks_crop112``, ``landmarks_mouth`` (T,20,2: points 48-67 in the mouth crop),
  ``transform256``, ``transform112``, ``transform_mouth`` (T,2,3 frame -> crop),
  ``face_box`` (T,4), ``pose`` (T,3 yaw, pitch, roll degrees), ``face_ok`` (T bool),
  ``face_state`` (T uint8, codes in meta ``face.state_codes``). Landmarks and pose are NaN in
  frames without a face (``face_state`` missing); their crops use the nearest good frame's
  transform, so every stream still has one crop per video frame;
- meta ``face``: backend and versions, template, counts, longest good run, speaker rule;
- manifest columns ``n_faces``, ``good_run_start``, ``good_run_length``.

A clip without enough usable frames raises ``ClipRejected`` (``no_face``,
``face_too_small``, ``face_out_of_frame``, ``extreme_pose``) and writes nothing.
"""

from __future__ import annotations

import time
from collections import Counter

import cv2
import numpy as np

from avprep.clips import ClipRejected, ClipWork
from avprep.face.alignment import (
    align_transforms,
    anchor_points,
    apply_affine,
    mouth_transforms,
    translate,
    warp_crops,
)
from avprep.face.backends import DlibFaceDetector, DlibLandmarker, LandmarkBackend
from avprep.face.config import FaceConfig
from avprep.face.crop_codec import encode_streams, x264_settings
from avprep.face.pose import POSE_VERSION, extreme_pose, head_pose, longest_run
from avprep.face.registry import get_face_backend
from avprep.face.templates import CRAN_TEMPLATE, DAVS_TEMPLATE
from avprep.face.tracking import (
    DETECTED,
    EXTREME_POSE,
    HAS_LANDMARKS,
    INTERPOLATED,
    MISSING,
    OUT_OF_FRAME,
    SPEAKER_RULE,
    STATE_NAMES,
    TOO_SMALL,
    TRACKED,
    fill_gaps,
    hold_nearest,
    smooth_runs,
    track_speaker,
)
from avprep.stages import Stage

REJECT_REASON = {
    MISSING: "no_face",
    TOO_SMALL: "face_too_small",
    OUT_OF_FRAME: "face_out_of_frame",
    EXTREME_POSE: "extreme_pose",
}


def _templates_meta(cfg: FaceConfig) -> dict[str, dict]:
    """What every sample records about its crop geometry (schema: ``face.templates``)."""
    cx, cy, side = DAVS_TEMPLATE.mouth_box(cfg.crop_size_davs)
    return {
        "crop256": {
            **DAVS_TEMPLATE.as_dict(),
            "points_at_crop_size": DAVS_TEMPLATE.scaled(cfg.crop_size_davs).round(4).tolist(),
            "crop_size": cfg.crop_size_davs,
            "stored_size": cfg.crop_size_davs + 2 * cfg.crop_margin,
            "margin": cfg.crop_margin,
        },
        "crop112": {
            **CRAN_TEMPLATE.as_dict(),
            "points_at_crop_size": CRAN_TEMPLATE.scaled(cfg.crop_size_cran).round(4).tolist(),
            "crop_size": cfg.crop_size_cran,
            "stored_size": cfg.crop_size_cran,
            "margin": 0,
        },
        "mouth": {
            "name": "davs256-mouth",
            "box_in_crop256": [round(cx, 4), round(cy, 4), round(side, 4)],
            "rule": "square centred on the davs256 mouth point, 1.5 template eye distances wide",
            "crop_size": cfg.mouth_size,
            "stored_size": cfg.mouth_size,
            "margin": 0,
            "border_value": DAVS_TEMPLATE.border_value,
        },
    }


class FaceStage(Stage):
    """The face stage; see the module docstring for what it writes."""

    name = "face"

    def __init__(self, config: FaceConfig | None = None) -> None:
        self.config = config or FaceConfig()
        self.config.validate()
        self.backend = get_face_backend(self.config.backend)
        self._detector: DlibFaceDetector | None = None
        self._tracker_lm = DlibLandmarker(self.config.dlib_model)  # loads in setup()
        self._landmarker: LandmarkBackend | None = None  # a refining backend's (FAN)

    def setup(self) -> None:
        if self._detector is not None:
            return
        cfg = self.config
        cv2.setNumThreads(1)  # Beam parallelises across clips; keep one core per worker
        self._tracker_lm.setup()  # one shared load per process (backends.shared_model)
        if self.backend.refines_tracked:
            lm = self.backend.make(cfg.landmarker_options())
            lm.setup()
            self._landmarker = lm
        self._detector = DlibFaceDetector(cfg.upsample_retry_max_side, cfg.max_upsample)

    def preflight(self) -> None:
        """What ``setup`` would fail on (a missing model file), without loading any model: the
        build driver calls this, the workers load (``setup``)."""
        self._tracker_lm.resolve()
        self.backend.check_files(self.config.landmarker_options())

    def versions(self) -> dict[str, str]:
        if self.backend.refines_tracked:
            self.setup()  # FAN's versions name the device it resolved at load time
        v = {
            "face_backend": self.config.backend,
            "head_pose": POSE_VERSION,
            # crops' pixels depend on OpenCV's warp rounding (4.14, 5.0 and 5.1 differ) and
            # the MP4s' bytes on the x264 settings: both recorded, so bytes can be explained
            "opencv": cv2.__version__,
            **self._tracker_lm.versions(),
        }
        if self.config.image_format == "mp4":
            v["crop_x264"] = x264_settings(self.config.mp4_preset, self.config.mp4_crf)
        if self._landmarker is not None:
            v.update(self._landmarker.versions())
        return v

    def process(self, work: ClipWork) -> None:
        if work.media is None:
            raise ValueError("face stage needs decoded media (run decode first)")
        self.setup()
        assert self._detector is not None and self._tracker_lm is not None
        cfg = self.config
        t_start = time.perf_counter()
        frames = work.media.frames
        if frames.ndim == 3:  # grayscale video: crops are written as RGB
            frames = np.repeat(frames[..., None], 3, axis=-1)
        n, h, w = frames.shape[:3]
        if n == 0:
            raise ClipRejected("no_face", "clip has no video frames")

        tr = track_speaker(
            frames,
            self._detector,
            self._tracker_lm,
            cfg.detect_every,
            cfg.detect_scaled,
            cfg.full_detect_every,
        )
        if tr.n_tracks == 0:
            raise ClipRejected("no_face", f"no face detected on {len(tr.keyframes)} keyframes")
        lms, state = tr.landmarks, tr.state
        t_fan = 0.0
        if self._landmarker is not None:
            t0 = time.perf_counter()
            idx = np.nonzero((state == DETECTED) | (state == TRACKED))[0]
            lms[idx] = self._landmarker.landmarks(frames, tr.boxes[idx], idx)
            t_fan = time.perf_counter() - t0

        has = np.isin(state, (DETECTED, TRACKED))
        width = np.full(n, np.inf)
        width[has] = lms[has, :, 0].max(-1) - lms[has, :, 0].min(-1)
        state[has & (width < cfg.min_face_size)] = TOO_SMALL
        # landmarks of a face cut by the frame edge pile up at the edge: count a 2% border
        mg = 0.02 * min(w, h)
        x, y = lms[..., 0], lms[..., 1]
        out = (x < mg) | (x > w - 1 - mg) | (y < mg) | (y > h - 1 - mg)
        state[(state == DETECTED) | (state == TRACKED)] = np.where(
            out.mean(-1) > cfg.max_outside_fraction, OUT_OF_FRAME, state
        )[(state == DETECTED) | (state == TRACKED)]
        fill_gaps(lms, state, cfg.max_gap)
        valid = np.isin(state, HAS_LANDMARKS)
        lms = smooth_runs(lms.astype(np.float64), valid, cfg.smooth_window)

        pose = head_pose(lms, w, h)
        extreme = extreme_pose(pose, cfg.max_yaw, cfg.max_pitch, cfg.max_roll) & valid
        state[extreme & np.isin(state, (DETECTED, TRACKED, INTERPOLATED))] = EXTREME_POSE
        ok = np.isin(state, (DETECTED, TRACKED, INTERPOLATED))
        run_start, run_len = longest_run(ok)

        if ok.mean() < cfg.min_good_fraction or run_len == 0:
            counts = Counter(int(s) for s in state[~ok])
            worst = counts.most_common(1)[0][0] if counts else MISSING
            detail = ", ".join(f"{STATE_NAMES[s]}={c}" for s, c in sorted(counts.items()))
            raise ClipRejected(
                REJECT_REASON.get(worst, "no_face"),
                f"{int(ok.sum())}/{n} usable frames (need {cfg.min_good_fraction:.0%}); {detail}",
            )

        anchors = hold_nearest(anchor_points(lms), valid)
        anchors = smooth_runs(anchors, np.ones(n, bool), cfg.anchor_smooth_window)
        a256 = align_transforms(anchors, "davs256", cfg.crop_size_davs)
        a112 = align_transforms(anchors, "cran112", cfg.crop_size_cran)
        am = mouth_transforms(a256, cfg.crop_size_davs, cfg.mouth_size)
        grey, mg256 = DAVS_TEMPLATE.border_value, cfg.crop_margin
        specs = {
            "crop256": (translate(a256, mg256, mg256), cfg.crop_size_davs + 2 * mg256, grey),
            "crop112": (a112, cfg.crop_size_cran, CRAN_TEMPLATE.border_value),
            "mouth": (am, cfg.mouth_size, grey),
        }
        crops = dict(zip(specs, warp_crops(frames, list(specs.values())), strict=True))
        t_enc = time.perf_counter()
        files = encode_streams(
            crops, cfg.image_format, cfg.jpeg_quality, cfg.mp4_crf, cfg.mp4_preset
        )
        t_enc = time.perf_counter() - t_enc

        lm_out = np.where(valid[:, None, None], lms, np.nan).astype(np.float32)
        work.files.update(files)
        work.arrays.update(
            {
                "landmarks_src": lm_out,
                "landmarks_crop256": apply_affine(a256, lm_out).astype(np.float32),
                "landmarks_crop112": apply_affine(a112, lm_out).astype(np.float32),
                "landmarks_mouth": apply_affine(am, lm_out[:, 48:68]).astype(np.float32),
                "transform256": a256.astype(np.float32),
                "transform112": a112.astype(np.float32),
                "transform_mouth": am.astype(np.float32),
                "face_box": tr.boxes.astype(np.float32),
                "pose": pose.astype(np.float32),
                "face_ok": ok,
                "face_state": state.astype(np.uint8),
            }
        )
        counts = Counter(STATE_NAMES[int(s)] for s in state)
        work.meta["face"] = {
            **self.versions(),
            "template": {"crop256": "davs256", "crop112": "cran112", "mouth": "davs256-mouth"},
            "templates": _templates_meta(cfg),
            "crop_sizes": {
                "crop256": cfg.crop_size_davs,
                "crop112": cfg.crop_size_cran,
                "mouth": cfg.mouth_size,
            },
            "crop_margins": {"crop256": cfg.crop_margin, "crop112": 0, "mouth": 0},
            "image_format": cfg.image_format,
            "n_faces": tr.n_faces,
            "n_face_tracks": tr.n_tracks,
            "detect_calls": tr.detect_calls,
            "window_detect_calls": tr.roi_detect_calls,  # of detect_calls: verify keyframes
            "track_calls": tr.track_calls,
            "frames_by_state": dict(sorted(counts.items())),
            "state_codes": {str(k): v for k, v in STATE_NAMES.items()},
            "good_frames": int(ok.sum()),
            "good_run_start": run_start,
            "good_run_length": run_len,
            "speaker_rule": SPEAKER_RULE,
            "pose_limits": {"yaw": cfg.max_yaw, "pitch": cfg.max_pitch, "roll": cfg.max_roll},
        }
        work.manifest.update(
            {"n_faces": tr.n_faces, "good_run_start": run_start, "good_run_length": run_len}
        )
        work.timings["face"] = time.perf_counter() - t_start
        work.timings["face_detect"] = tr.detect_seconds
        work.timings["face_track"] = tr.track_seconds
        work.timings["face_fan"] = t_fan
        work.timings["face_encode"] = t_enc
