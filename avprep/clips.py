"""The units that flow through a build: a clip reference, the work on one clip, a rejection.

Every stage of ``avprep build`` is a plain function or :class:`avprep.stages.Stage`
that takes a :class:`ClipWork` and adds to it, or raises :class:`ClipRejected`
with a reason code a user can act on. Nothing here imports Beam.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ClipError:
    """Why a clip cannot become a sample, as data: ``reason`` is the short code the
    manifest's ``reason`` column holds (``no_audio``, ``bad_metadata`` ...), ``detail`` is
    for humans. Carried by :class:`ClipRef` (found at discovery) and by
    :class:`ClipRejected` (found while processing)."""

    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(frozen=True)
class ClipRef:
    """What a dataset adapter knows about one clip before any media is read.

    ``key`` is stable and unique across the corpus and safe as a tar member
    stem (see :func:`avprep.keys.clip_key`). ``error`` is set by an adapter
    when the clip's own metadata is malformed: the clip is then rejected with
    that reason and detail instead of being decoded, so it is still accounted for.
    """

    key: str
    dataset: str
    split: str
    source: str  # path or URL of the main media file (video, or first image)
    audio: str | None = None  # separate audio file (VoxCeleb2 aac, CREMA-D wav)
    speaker: str | None = None
    transcript: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    kind: str = "clip"  # "clip" (video + audio) or "identity" (face images)
    images: tuple[str, ...] = ()  # for kind == "identity"
    error: ClipError | None = None  # found at discovery: the clip is rejected undecoded

    def __hash__(self) -> int:  # labels is a dict; the key is unique by contract
        return hash(self.key)


class ClipRejected(Exception):
    """A clip that cannot become a sample. ``reason`` is a short code
    (``no_audio``, ``no_face``, ``corrupt_media`` ...), ``detail`` is for humans."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    @property
    def error(self) -> ClipError:
        return ClipError(self.reason, self.detail)

    @classmethod
    def of(cls, error: ClipError) -> ClipRejected:
        return cls(error.reason, error.detail)


@dataclass
class DecodedMedia:
    """A clip's media on the common time base.

    ``frames`` are RGB uint8 (T, H, W, 3) at ``fps`` (25), ``timestamps`` their
    times in seconds from the first video frame; ``audio`` is mono float32 at
    ``sample_rate`` (16 kHz), sample 0 at the time of frame 0, exactly
    ``T * sample_rate / fps`` samples long.
    """

    frames: np.ndarray
    timestamps: np.ndarray
    audio: np.ndarray
    fps: float
    sample_rate: int
    source_fps: float
    source_size: tuple[int, int]  # (width, height) of the source video
    av_offset: float  # seconds the audio stream starts after the video (applied)
    # [start, end) samples of ``audio`` that are real audio; outside is silence added to
    # reach the video's length (None: all real, e.g. identity images with no audio)
    audio_extent: tuple[int, int] | None = None
    audio_stream: dict[str, Any] | None = None  # which stream of which file was decoded
    rotation: int = 0  # degrees the frames were turned (display matrix) to stand upright

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps


@dataclass
class ClipWork:
    """One clip in flight. Stages add shard members and metadata.

    - ``arrays``: name -> ndarray, written as ``<key>.<name>.npy``
    - ``files``: extension -> bytes, written as ``<key>.<ext>`` (``flac``, ``f00000.jpg`` ...)
    - ``meta``: merged into the sample's ``json`` member (validated by the schema)
    - ``manifest``: extra manifest columns for this clip (e.g. ``phone_hist``)
    """

    ref: ClipRef
    media: DecodedMedia | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
