"""Settings of the face stage, in one dataclass so a build records exactly what it ran with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from avprep.face.registry import DEFAULT_FACE_BACKEND, LandmarkerOptions, get_face_backend

# x264 presets the MP4 crops may be encoded with (FaceConfig.mp4_preset); the default's settings
# and the measured trade are in avprep.face.crop_codec. Here, not there: the CLI lists them and
# must not import numpy to do so.
X264_PRESET = "veryfast"
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
)  # fmt: skip

# Face options renamed since builds were first written (issue 20): old name -> current name.
# A build.json keeps the ``face_options`` it was started with, old names included, and its
# fingerprint covers them, so the old names stay accepted as input (never written back).
RENAMED_FACE_OPTIONS = {"crop_size": "crop_size_davs", "crop_size_small": "crop_size_cran"}


def current_face_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` (a build's ``face_options``) with renamed options under their current
    names; giving both an old and its current name is refused."""
    out = dict(options)
    for old, new in RENAMED_FACE_OPTIONS.items():
        if old in out:
            if new in out:
                raise ValueError(f"face options {old!r} and {new!r} are one option (the old "
                                 f"and the current name): give only {new!r}")
            out[new] = out.pop(old)
    return out


@dataclass
class FaceConfig:
    """Face stage settings.

    ``backend`` picks the 68-point landmarker from :data:`avprep.face.registry.FACE_BACKENDS`:
    ``"dlib"`` (embedded default, offline) or ``"fan"`` (face-alignment's 2D FAN, when its
    weights are on the machine). Detection and frame-to-frame tracking always use dlib's HOG
    detector and shape predictor; with ``"fan"`` the final landmarks of every frame are
    re-estimated by FAN, batched across frames, from the tracked boxes.
    """

    backend: str = DEFAULT_FACE_BACKEND  # a name in avprep.face.registry.FACE_BACKENDS
    dlib_model: str | None = None  # 68-point .dat; else $AVPREP_DLIB_LANDMARKS, package, Debian
    fan_weights: str | None = None  # 2DFAN4 .pth.tar; else $TORCH_HOME/hub/checkpoints/<name>
    device: str = "auto"  # FAN only: "auto" (cuda when present), "cpu", "cuda", "cuda:1" ...
    fan_batch_size: int = 32

    # tracking
    detect_every: int = 5  # a detection on every Nth frame (keyframes), tracking in between
    # later keyframes of a clip searched at the scale its faces need (tracking.DETECT_FACE_WIDTH)
    detect_scaled: bool = True
    # only every Nth frame's keyframe is searched whole (speaker choice); the keyframes between
    # confirm the tracked face in a window around it (tracking module doc); 0: all whole
    full_detect_every: int = 25
    upsample_retry_max_side: int = 640  # frames this small get a retry at 2x when nothing found
    max_upsample: int = 1
    min_face_size: int = 40  # pixels: width of the landmark box in the source frame
    max_gap: int = 5  # frames: gaps this short between good frames are interpolated
    max_outside_fraction: float = 0.1  # landmarks outside the frame above this: not ok
    smooth_window: int = 5  # zero-phase Savitzky-Golay window for stored landmarks (1 = off)
    anchor_smooth_window: int = 9  # same, for the eye/mouth anchors that drive the alignment

    # head pose filter (degrees); CRAN drops frames with extreme poses
    max_yaw: float = 45.0
    max_pitch: float = 30.0
    max_roll: float = 45.0
    min_good_fraction: float = 0.5  # clips with fewer usable frames are rejected

    # crops
    crop_size_davs: int = 256  # DAVS / DVAE template (official DAVS geometry): crop256
    crop_margin: int = 2  # crop256 is stored (crop_size_davs + 2 margin)^2: the official 260
    crop_size_cran: int = 112  # CRAN template: crop112
    mouth_size: int = 96
    image_format: str = "mp4"  # "mp4" (one member per stream) | "jpg" (one member per frame)
    jpeg_quality: int = 95
    mp4_crf: int = 18
    mp4_preset: str = X264_PRESET  # x264 preset of the MP4 crops: CPU against bytes

    def validate(self) -> None:
        get_face_backend(self.backend)  # unknown: ValueError listing the registry
        if self.image_format not in ("jpg", "mp4"):
            raise ValueError(f"face image_format must be 'jpg' or 'mp4', not {self.image_format!r}")
        if self.detect_every < 1:
            raise ValueError("detect_every must be >= 1")
        if self.full_detect_every < 0:
            raise ValueError("full_detect_every must be >= 0 (0: every keyframe searched whole)")
        for name in ("smooth_window", "anchor_smooth_window"):
            w = getattr(self, name)
            if w < 1 or w % 2 == 0:
                raise ValueError(f"{name} must be an odd number >= 1, not {w}")
        if self.crop_margin < 0 or (self.crop_size_davs + 2 * self.crop_margin) % 2:
            raise ValueError("crop_margin must be >= 0 (stored crops need an even size)")
        if self.image_format == "mp4":  # H.264 yuv420p: chroma planes are half size
            for name in ("crop_size_cran", "mouth_size"):
                if getattr(self, name) % 2:
                    raise ValueError(f"{name} must be even for MP4 crops (yuv420p)")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be in 1..100")
        if self.mp4_preset not in X264_PRESETS:
            raise ValueError(
                f"mp4_preset must be one of {', '.join(X264_PRESETS)}, not {self.mp4_preset!r}"
            )
        if not 0 <= self.mp4_crf <= 51:
            raise ValueError("mp4_crf must be in 0..51 (x264's CRF scale)")

    @classmethod
    def from_options(cls, backend: str, options: Mapping[str, Any]) -> FaceConfig:
        """The face stage settings of a build: ``face_backend`` and ``face_options`` (whose
        old option names are still read, see :data:`RENAMED_FACE_OPTIONS`)."""
        return cls(backend=backend, **current_face_options(options))

    def landmarker_options(self) -> LandmarkerOptions:
        return LandmarkerOptions(
            dlib_model=self.dlib_model,
            fan_weights=self.fan_weights,
            device=self.device,
            batch_size=self.fan_batch_size,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
