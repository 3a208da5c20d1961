"""Decode a clip to the common time base: 25 fps RGB frames and 16 kHz mono float32 audio.

Rules (what every later stage relies on):

- **Video** is resampled to ``fps`` by timestamp, not by frame count, so variable
  frame rate and 29.97/30 fps sources land on the same grid: output frame ``i``
  is the latest source frame whose presentation time is at or before
  ``t0 + i / fps`` (sample and hold; ``t0`` = first video frame's time). The clip
  ends where the last source frame's display interval ends; the number of output
  frames is ``floor(duration * fps)`` (at least 1).
- **Audio** is decoded, downmixed and resampled to ``sample_rate`` with
  libswresample (through PyAV). Its container start time is honoured: when the
  audio stream starts ``d`` seconds after the video, ``d`` seconds of silence are
  prepended; when it starts earlier, the lead-in is cut. A *separate* audio file
  (GRID/CREMA-D wav, VoxCeleb2 m4a) is taken to start at the first video frame. It is
  then padded with silence or cut to exactly ``n_frames * sample_rate / fps`` samples (640 per frame
  at 25 fps / 16 kHz), so audio sample ``640 * i`` is the time of frame ``i``. The span that
  holds real audio is kept (``DecodedMedia.audio_extent``), so the feature stage marks every
  window over the padding invalid. Of several audio streams the one flagged *default* is
  decoded (else the first); which one is recorded (``audio_stream``).
- **Rotation**: a display matrix (phone videos) is applied, so frames are upright as a
  player shows them (multiples of 90 degrees; ``DecodedMedia.rotation``).
- **Bad input** raises :class:`~avprep.clips.ClipRejected` with a reason code:
  ``missing_file``, ``unreadable``, ``empty_file``, ``not_media``, ``corrupt_media``,
  ``no_video``, ``no_audio``, ``too_long``, ``too_short``.
- **Memory** is bounded per clip: frames are downscaled while decoding so the
  longer side is at most ``max_side``, and clips longer than ``max_seconds`` are
  rejected from container metadata before any frame is decoded.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from avprep import storage
from avprep.clips import ClipRejected, DecodedMedia


@dataclass(frozen=True)
class DecodeConfig:
    fps: float = 25.0
    sample_rate: int = 16000
    max_side: int = 640  # longer side of decoded frames; 0 keeps the source size
    max_seconds: float = 120.0  # longer clips are rejected (too_long) before decoding
    min_frames: int = 1  # shorter clips are rejected (too_short)


def decode_clip(
    source: str,
    audio_source: str | None = None,
    config: DecodeConfig = DecodeConfig(),
    require_audio: bool = True,
) -> DecodedMedia:
    """Decode ``source`` (video, with its audio unless ``audio_source`` is given).

    Video and audio are demuxed in one pass over the file (no seeking, so
    non-seekable inputs such as FLV and remote streams work). ``require_audio=False``
    accepts a video without an audio stream (no ``audio_source``): its audio is then
    silence with an empty ``audio_extent`` and ``audio_stream`` None (``avprep generate``
    driving videos; a build always requires audio).
    """
    video = _VideoResampler(config)
    audio = _AudioCollector(config)
    audio_stream: dict[str, Any] | None = None
    with _open(source) as container:
        if not container.streams.video:
            raise ClipRejected("no_video", f"{_name(source)} has no video stream")
        vstream = container.streams.video[0]
        # one decoding thread: a build parallelises across clips, and FFmpeg's default slice
        # threads only add overhead on single-slice streams (~15 % CPU on LRW-like clips)
        vstream.thread_count = 1
        _check_length(container, vstream, config.max_seconds, source)
        video.nominal_rate = float(vstream.average_rate or vstream.guessed_rate or config.fps)
        streams = [vstream]
        if audio_source is None and container.streams.audio:
            astream, audio_stream = _pick_audio_stream(container, "source")
            streams.append(astream)
        elif audio_source is None and require_audio:
            raise ClipRejected("no_audio", f"{_name(source)} has no audio stream")
        for packet in container.demux(*streams):
            for frame in packet.decode():
                (video if packet.stream.type == "video" else audio).feed(frame)
        size = (vstream.codec_context.width, vstream.codec_context.height)
    if audio_source is not None:
        with _open(audio_source) as acontainer:
            if not acontainer.streams.audio:
                raise ClipRejected("no_audio", f"{_name(audio_source)} has no audio stream")
            astream, audio_stream = _pick_audio_stream(acontainer, "audio_source")
            for frame in acontainer.decode(astream):
                audio.feed(frame)

    frames, t0, end, source_fps = video.finish()
    if audio_stream is None:  # require_audio=False and the video has none
        samples, a_t0 = np.zeros(0, dtype=np.float32), t0
    else:
        samples, a_t0 = audio.finish()
    n_frames = min(max(1, int(math.floor((end - t0) * config.fps + 1e-6))), len(frames))
    if n_frames < config.min_frames:
        raise ClipRejected("too_short", f"{n_frames} frames < min_frames={config.min_frames}")
    # A separate audio file (GRID .wav, CREMA-D .wav, VoxCeleb2 .m4a) starts with the clip:
    # its t=0 is the first video frame, whatever start time the video container declares.
    offset = a_t0 - (t0 if audio_source is None else 0.0)
    if video.rotation % 180:
        size = (size[1], size[0])  # as displayed
    return DecodedMedia(
        frames=np.stack(frames[:n_frames]),
        timestamps=np.arange(n_frames, dtype=np.float64) / config.fps,
        audio=align_audio(samples, offset, n_frames, config.fps, config.sample_rate),
        fps=config.fps,
        sample_rate=config.sample_rate,
        source_fps=source_fps,
        source_size=size,
        av_offset=offset,
        audio_extent=audio_extent(len(samples), offset, n_frames, config.fps, config.sample_rate),
        audio_stream=audio_stream,
        rotation=video.rotation,
    )


def audio_extent(
    n_audio: int, offset: float, n_frames: int, fps: float, sample_rate: int
) -> tuple[int, int]:
    """``[start, end)``: the samples of :func:`align_audio`'s output that are real audio."""
    shift = int(round(offset * sample_rate))
    n = int(round(n_frames * sample_rate / fps))
    start = min(max(shift, 0), n)
    return start, max(start, min(n, shift + n_audio))


def decode_audio(
    source: str, config: DecodeConfig = DecodeConfig(), max_seconds: float | None = None
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """The default audio stream of any FFmpeg-readable file (an audio file or a video's
    soundtrack) as mono float32 at ``config.sample_rate``, resampled by libswresample as
    :func:`decode_clip` does. Returns ``(samples, start, stream)``: ``start`` is the stream's
    first timestamp in seconds (not applied: the samples start with the stream), ``stream``
    the record of which stream was decoded. Decoding stops with ``too_long`` as soon as
    more than ``max_seconds`` (default ``config.max_seconds``) of audio is decoded, so a
    long file is never held whole. Rejections as the module doc lists (``no_audio`` for a
    file without an audio stream or without decodable samples)."""
    limit = config.max_seconds if max_seconds is None else max_seconds
    collector = _AudioCollector(config)
    with _open(source) as container:
        if not container.streams.audio:
            raise ClipRejected("no_audio", f"{_name(source)} has no audio stream")
        stream, record = _pick_audio_stream(container, "audio")
        decoded = 0
        for frame in container.decode(stream):
            before = len(collector.chunks)
            collector.feed(frame)
            decoded += sum(c.size for c in collector.chunks[before:])
            if decoded > limit * config.sample_rate:
                raise ClipRejected(
                    "too_long",
                    f"{_name(source)}: audio longer than max_seconds={limit:g} "
                    "(memory grows with its length)",
                )
    samples, start = collector.finish()
    if len(samples) > limit * config.sample_rate:
        raise ClipRejected("too_long", f"{_name(source)}: audio longer than max_seconds={limit:g}")
    return samples, start, record


def _pick_audio_stream(container: Any, which: str) -> tuple[Any, dict[str, Any]]:
    """The audio stream flagged default (else the first), and a record of the choice."""
    streams = list(container.streams.audio)
    chosen = next((s for s in streams if s.disposition & av.stream.Disposition.default), None)
    chosen = chosen or streams[0]
    ctx = chosen.codec_context
    return chosen, {
        "file": which,
        "index": int(chosen.index),
        "audio_streams": len(streams),
        "codec": ctx.name,
        "channels": int(ctx.channels or 0),
        "sample_rate": int(ctx.sample_rate or 0),
        "language": (chosen.metadata or {}).get("language"),
    }


def align_audio(
    audio: np.ndarray, offset: float, n_frames: int, fps: float, sample_rate: int
) -> np.ndarray:
    """Put ``audio`` (starting ``offset`` s after frame 0) on the video's time base,
    exactly ``n_frames * sample_rate / fps`` samples long."""
    shift = int(round(offset * sample_rate))
    if shift > 0:
        audio = np.concatenate([np.zeros(shift, dtype=np.float32), audio])
    elif shift < 0:
        audio = audio[-shift:]
    n = int(round(n_frames * sample_rate / fps))
    if len(audio) < n:
        audio = np.concatenate([audio, np.zeros(n - len(audio), dtype=np.float32)])
    return np.ascontiguousarray(audio[:n], dtype=np.float32)


class _open:
    """Open a media file, turning OS and FFmpeg failures into rejections."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.container: Any = None

    def __enter__(self) -> Any:
        path = self.path
        try:
            if not storage.is_remote(path):
                if not os.path.exists(path):
                    raise ClipRejected("missing_file", f"{path} does not exist")
                if os.path.getsize(path) == 0:
                    raise ClipRejected("empty_file", f"{path} is empty (0 bytes)")
                with open(path, "rb"):
                    pass  # surfaces permission errors as such, not as FFmpeg errors
                self.container = av.open(path, metadata_errors="ignore")
            else:
                self.container = av.open(storage.open_binary(path), metadata_errors="ignore")
        except ClipRejected:
            raise
        except av.FFmpegError as e:
            raise ClipRejected("not_media", f"{path}: FFmpeg cannot read it ({e})") from e
        except PermissionError as e:
            raise ClipRejected("unreadable", f"{path}: permission denied ({e})") from e
        except OSError as e:
            raise ClipRejected("unreadable", f"{path}: {e}") from e
        return self.container

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.container is not None:
            self.container.close()
        if exc is not None and isinstance(exc, av.FFmpegError):
            raise ClipRejected("corrupt_media", f"{self.path}: decoding failed ({exc})") from exc
        return False


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def _check_length(container: Any, vstream: Any, max_seconds: float, source: str) -> None:
    seconds = None
    if vstream.duration is not None and vstream.time_base is not None:
        seconds = float(vstream.duration * vstream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    if seconds is not None and seconds > max_seconds:
        raise ClipRejected(
            "too_long",
            f"{_name(source)} lasts {seconds:.1f} s > max_seconds={max_seconds:g} "
            "(raise --max-seconds to keep it; memory grows with clip length)",
        )


def scaled_size(w: int, h: int, max_side: int) -> tuple[int, int]:
    """(w, h) shrunk so the longer side is at most ``max_side`` (even sizes, for codecs)."""
    if max_side <= 0 or max(w, h) <= max_side:
        return w, h
    s = max_side / max(w, h)
    return max(2, int(round(w * s / 2)) * 2), max(2, int(round(h * s / 2)) * 2)


class _VideoResampler:
    """Sample-and-hold resampling of decoded frames to ``config.fps`` (see module doc)."""

    def __init__(self, config: DecodeConfig) -> None:
        self.config = config
        self.nominal_rate = config.fps
        self.out: list[np.ndarray] = []
        self.held: np.ndarray | None = None
        self.t0: float | None = None
        self.last_t = 0.0
        self.last_dur: float | None = None
        self.n_src = 0
        self.rotation = 0  # degrees counterclockwise the frames are turned (display matrix)
        # one libswscale context for the whole stream: ``frame.to_ndarray(format=...)`` builds
        # and frees a new one per frame, which cost ~0.5 ms of a 256x256 frame's ~0.1 ms
        # conversion (LRW-like clips: decode 42 -> 23 ms); same pixels, same flags
        self.reformatter = VideoReformatter()

    def _slot(self) -> float:
        return self.t0 + len(self.out) / self.config.fps

    def feed(self, frame: Any) -> None:
        t = frame.time if frame.time is not None else self.n_src / self.nominal_rate
        if self.t0 is None:
            self.t0 = t
        w, h = scaled_size(frame.width, frame.height, self.config.max_side)
        img = self.reformatter.reformat(frame, format="rgb24", width=w, height=h).to_ndarray()
        if self.n_src == 0:
            # PyAV: the display matrix's rotation, counterclockwise degrees (phones: -90 ...)
            self.rotation = int(round((getattr(frame, "rotation", 0) or 0) / 90.0)) % 4 * 90
        if self.rotation:
            img = np.ascontiguousarray(np.rot90(img, self.rotation // 90))
        while self.held is not None and self._slot() < t - 1e-6:
            self.out.append(self.held)  # every slot before this frame shows the held one
        self.held = img
        self.last_dur = float(frame.duration * frame.time_base) if frame.duration else None
        self.last_t = t
        self.n_src += 1

    def finish(self) -> tuple[list[np.ndarray], float, float, float]:
        """Frames, time of the first, end of the last frame's display, mean source rate."""
        if self.held is None or self.t0 is None:
            raise ClipRejected("corrupt_media", "no decodable video frame")
        end = self.last_t + (self.last_dur or 1.0 / self.nominal_rate)
        while self._slot() < end - 1e-6:
            self.out.append(self.held)
        if not self.out:
            self.out.append(self.held)
        rate = self.n_src / (end - self.t0) if end > self.t0 else self.nominal_rate
        return self.out, self.t0, end, rate


class _AudioCollector:
    """Decoded audio frames -> mono float32 at ``config.sample_rate`` (libswresample)."""

    def __init__(self, config: DecodeConfig) -> None:
        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=config.sample_rate)
        self.chunks: list[np.ndarray] = []
        self.start: float | None = None

    def feed(self, frame: Any) -> None:
        if self.start is None and frame.time is not None:
            self.start = float(frame.time)
        for rf in self.resampler.resample(frame):
            self.chunks.append(rf.to_ndarray().reshape(-1))

    def finish(self) -> tuple[np.ndarray, float]:
        for rf in self.resampler.resample(None):
            self.chunks.append(rf.to_ndarray().reshape(-1))
        if not self.chunks or sum(c.size for c in self.chunks) == 0:
            raise ClipRejected("no_audio", "the audio stream holds no decodable samples")
        return np.concatenate(self.chunks).astype(np.float32), self.start or 0.0
