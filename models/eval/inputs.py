"""What ``avprep eval`` reads: real and generated clips, paired by name.

A side is a video file, or a folder holding videos (``.mp4 .avi .mov .mkv .webm .flv .mpg``)
and/or folders of frame images (``.png .jpg .jpeg .bmp``, in name order), searched
recursively; a clip's name is its path relative to the folder without the extension (a
frame folder's name is its relative path). So a run's generated videos and the real crops
they imitate pair up when the files carry the same names. Clips present on one side only
are listed, never silently dropped. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".flv", ".mpg", ".mpeg"}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp"}
MAX_SECONDS = 120.0  # longer clips are refused (memory: all frames of a clip are held)


@dataclass(frozen=True)
class ClipSource:
    name: str
    path: Path
    kind: str  # "video" or "frames"


def list_clips(path: str | Path) -> dict[str, ClipSource]:
    """Clips under ``path`` (a video file, or a folder) by name."""
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() not in VIDEO_EXTS:
            raise ValueError(f"{p} is not a video ({', '.join(sorted(VIDEO_EXTS))})")
        return {p.stem: ClipSource(p.stem, p, "video")}
    if not p.is_dir():
        raise FileNotFoundError(f"{p} does not exist")
    out: dict[str, ClipSource] = {}
    for f in sorted(p.rglob("*")):
        if f.is_file() and f.suffix.lower() in VIDEO_EXTS:
            name = f.relative_to(p).with_suffix("").as_posix()
            out[name] = ClipSource(name, f, "video")
    for d in sorted({f.parent for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTS}):
        name = d.relative_to(p).as_posix() if d != p else p.name
        if name in out:
            raise ValueError(f"{d} holds frames and is also the name of a video: ambiguous")
        out[name] = ClipSource(name, d, "frames")
    if not out:
        raise ValueError(f"no videos or frame folders under {p}")
    return out


def pair_clips(
    real: str | Path, generated: str | Path
) -> tuple[list[tuple[str, ClipSource, ClipSource]], list[str], list[str]]:
    """(name, real, generated) pairs, then the names found only among real / generated."""
    r, g = list_clips(real), list_clips(generated)
    if len(r) == 1 and len(g) == 1 and Path(real).is_file() and Path(generated).is_file():
        (rn, rs), (_, gs) = next(iter(r.items())), next(iter(g.items()))
        return [(rn, rs, gs)], [], []
    names = sorted(set(r) & set(g))
    return [(n, r[n], g[n]) for n in names], sorted(set(r) - set(g)), sorted(set(g) - set(r))


def read_frames(src: ClipSource, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """All frames of a clip as RGB uint8 (T, H, W, 3), in file (decode) order."""
    import cv2

    if src.kind == "frames":
        files = sorted(f for f in src.path.iterdir() if f.suffix.lower() in IMAGE_EXTS)
        frames = []
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"{f} is not an image OpenCV can read")
            frames.append(img[:, :, ::-1])
        return _stack(frames, src)
    frames = []
    try:
        with av.open(str(src.path)) as container:
            if not container.streams.video:
                raise ValueError(f"{src.path} has no video stream")
            stream = container.streams.video[0]
            rate = float(stream.average_rate or 25)
            to_rgb = VideoReformatter()  # one swscale context per video (avprep/media.py)
            for frame in container.decode(stream):
                frames.append(to_rgb.reformat(frame, format="rgb24").to_ndarray())
                if len(frames) > max_seconds * rate:
                    raise ValueError(f"{src.path} is longer than {max_seconds:.0f} s")
    except av.error.FFmpegError as e:
        raise ValueError(f"{src.path} cannot be decoded: {e}") from e
    return _stack(frames, src)


def _stack(frames: list[np.ndarray], src: ClipSource) -> np.ndarray:
    if not frames:
        raise ValueError(f"{src.path} has no frames")
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise ValueError(f"{src.path}: frames of different sizes {sorted(shapes)}")
    return np.ascontiguousarray(np.stack(frames))


def read_video_with_audio(
    src: ClipSource, audio: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Frames at 25 fps and 16 kHz mono audio on the same time base (avprep's decoder), from
    the video's own soundtrack or from ``audio`` (a separate file starting with frame 0)."""
    from avprep.clips import ClipRejected
    from avprep.media import DecodeConfig, decode_clip

    if src.kind != "video":
        raise ValueError(f"{src.path}: lip sync needs a video file with sound")
    try:
        media = decode_clip(
            str(src.path),
            None if audio is None else str(audio),
            DecodeConfig(max_side=0, max_seconds=MAX_SECONDS),
        )
    except ClipRejected as e:
        raise ValueError(f"{src.path}: {e}") from e
    return media.frames, media.audio
