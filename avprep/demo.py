"""The bundled demo corpus and the media composer that makes it (and the test corpora).

Real media only: the face is scikit-image's astronaut photo (Eileen Collins, NASA,
public domain), the speech is LibriVox public-domain recordings bundled in
``avprep/data/speech`` with their transcripts. ``write_talking_clip`` moves the
photo slowly (translation, scale, small rotation) and muxes the speech under it,
so a clip has a real face to track and real speech to align. Encoding goes through
PyAV (the ffmpeg libraries that ship in its wheel): no network, no system ffmpeg.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path

import av
import cv2
import numpy as np
import soundfile as sf

SPEECH_DIR = resources.files("avprep") / "data" / "speech"


@dataclass(frozen=True)
class SpeechAsset:
    name: str
    audio: np.ndarray  # float32 mono
    sample_rate: int
    transcript: str


def speech_assets() -> list[SpeechAsset]:
    """The bundled real speech recordings with their transcripts, sorted by name."""
    out = []
    for wav in sorted(p for p in SPEECH_DIR.iterdir() if p.name.endswith(".wav")):
        audio, sr = sf.read(str(wav), dtype="float32", always_2d=False)
        txt = SPEECH_DIR / wav.name.replace(".wav", ".txt")
        out.append(SpeechAsset(wav.name[:-4], audio, sr, txt.read_text().strip()))
    return out


def face_photo() -> np.ndarray:
    """scikit-image's astronaut (public domain): RGB uint8, 512x512."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def animate_face(
    image: np.ndarray, n_frames: int, size: tuple[int, int], seed: int = 0, amplitude: float = 1.0
) -> np.ndarray:
    """Frames (n, h, w, 3) of ``image`` slowly translated, scaled and rotated.

    ``amplitude`` scales the motion (0 = still). The motion is smooth (sines) so a
    tracker sees realistic head movement rather than jumps.
    """
    w, h = size
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=4)
    ih, iw = image.shape[:2]
    base = min(w / iw, h / ih)
    frames = np.empty((n_frames, h, w, 3), dtype=np.uint8)
    for i in range(n_frames):
        t = i / 25.0
        scale = base * (1.0 + amplitude * 0.05 * np.sin(2 * np.pi * 0.4 * t + phase[0]))
        angle = amplitude * 4.0 * np.sin(2 * np.pi * 0.3 * t + phase[1])
        dx = amplitude * 0.04 * w * np.sin(2 * np.pi * 0.5 * t + phase[2])
        dy = amplitude * 0.03 * h * np.sin(2 * np.pi * 0.35 * t + phase[3])
        m = cv2.getRotationMatrix2D((iw / 2, ih / 2), angle, scale)
        m[0, 2] += w / 2 - iw / 2 + dx
        m[1, 2] += h / 2 - ih / 2 + dy
        frames[i] = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    return frames


def write_talking_clip(
    path: str | os.PathLike,
    image: np.ndarray | None,
    audio: np.ndarray | None,
    sample_rate: int = 16000,
    fps: float | Fraction = 25,
    size: tuple[int, int] = (256, 256),
    n_frames: int | None = None,
    video_codec: str = "libx264",
    audio_codec: str = "aac",
    audio_rate: int | None = None,
    audio_delay: float = 0.0,
    frames: np.ndarray | None = None,
    seed: int = 0,
    motion: float = 1.0,
) -> Path:
    """Write a video of ``image`` (animated) with ``audio`` under it.

    - the container is chosen from the extension (.mp4, .mpg, .flv, .mkv, .avi);
    - ``n_frames`` defaults to the audio's duration at ``fps``;
    - ``audio=None`` writes a video with no audio stream, ``image=None`` (and
      ``frames=None``) an audio-only file;
    - ``audio_delay`` > 0 starts the audio stream that many seconds after the video
      (container start times differ), to exercise A/V offset handling;
    - ``frames`` overrides the animation with explicit frames.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fps_q = Fraction(fps).limit_denominator(1001)
    if n_frames is None and frames is not None:
        n_frames = len(frames)
    if n_frames is None:
        if audio is None:
            raise ValueError("n_frames is required without audio")
        n_frames = max(1, int(round(len(audio) / sample_rate * float(fps_q))))
    if frames is None and image is not None:
        frames = animate_face(image, n_frames, size, seed=seed, amplitude=motion)
    container = av.open(str(path), mode="w")
    try:
        vstream = astream = None
        if frames is not None:
            vstream = container.add_stream(video_codec, rate=fps_q)
            vstream.width, vstream.height = frames.shape[2], frames.shape[1]
            vstream.pix_fmt = "yuv420p"
            if video_codec == "libx264":
                vstream.options = {"crf": "20", "preset": "veryfast"}
        if audio is not None:
            rate = audio_rate or (44100 if audio_codec in ("libmp3lame", "mp3") else sample_rate)
            astream = container.add_stream(audio_codec, rate=rate)
            astream.layout = "mono"
        if vstream is not None:
            for i, img in enumerate(frames):
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                vf.pts = i
                vf.time_base = Fraction(1) / fps_q
                for packet in vstream.encode(vf):
                    container.mux(packet)
            for packet in vstream.encode():
                container.mux(packet)
        if astream is not None:
            _encode_audio(container, astream, audio, sample_rate, audio_delay)
    finally:
        container.close()
    return path


def _encode_audio(container, astream, audio: np.ndarray, sr: int, delay: float) -> None:
    pcm = np.clip(audio, -1.0, 1.0)
    pcm = (pcm * 32767).astype(np.int16)[None, :]
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = sr
    rate = astream.codec_context.sample_rate
    resampler = av.AudioResampler(
        format=astream.codec_context.format.name, layout="mono", rate=rate
    )
    start = int(round(delay * rate))
    for rf in resampler.resample(frame) + resampler.resample(None):
        rf.pts = start
        rf.time_base = Fraction(1, rate)
        start += rf.samples
        for packet in astream.encode(rf):
            container.mux(packet)
    for packet in astream.encode(None):
        container.mux(packet)


DEMO_CLIPS = 6


def make_demo_corpus(root: str | os.PathLike, n_clips: int = DEMO_CLIPS) -> Path:
    """Write the demo corpus (idempotent): ``root/<speaker>/<name>.mp4`` + ``.txt`` transcripts.

    Clips cycle through the bundled recordings; every clip gets its own motion
    seed. Two speakers' folders hold clips with the same base name on purpose
    (keys must still be unique).
    """
    root = Path(root)
    assets = speech_assets()
    image = face_photo()
    for i in range(n_clips):
        asset = assets[i % len(assets)]
        speaker = f"speaker{i % 2 + 1}"
        name = f"clip{i // 2:02d}"
        video = root / speaker / f"{name}.mp4"
        if video.exists() and (root / speaker / f"{name}.txt").exists():
            continue
        video.parent.mkdir(parents=True, exist_ok=True)
        tmp = video.with_name(f".{name}.tmp.mp4")
        write_talking_clip(tmp, image, asset.audio, asset.sample_rate, seed=i)
        (root / speaker / f"{name}.txt").write_text(asset.transcript + "\n")
        tmp.replace(video)
    return root
