"""The media composer of the demo corpus (and of the test corpora); the adapter that reads
the corpus back is :mod:`avprep.datasets.demo`.

Real media only: the faces are scikit-image's astronaut photo (Eileen Collins, NASA,
public domain) and matplotlib's sample portrait of Grace Hopper (US Navy, public domain),
the speech is LibriVox public-domain recordings bundled in ``avprep/data/speech`` with
their transcripts. ``write_talking_clip`` moves the photo slowly (translation, scale,
small rotation) and muxes the speech under it, so a clip has a real face to track and
real speech to align. Encoding goes through PyAV (the ffmpeg libraries that ship in its
wheel): no network, no system ffmpeg.

The demo corpus (:func:`make_demo_corpus`) has one part per kind of label a trainer needs:

- ``talking``: ``speaker{1,2}/clipNN.mp4`` + ``.txt``: whole recordings under the astronaut
  (transcripts; every speech clip is labelled emotion ``NEU``, CREMA-D's code, because
  the LibriVox reading is neutral: the honest label, and DVAE's default);
- ``words``: ``lipread_mp4/WORD/{train,val}/WORD_NNNNN.mp4`` + LRW ``.txt`` (``Text:``,
  ``Conf:``, ``Duration:``): LRW-style 29-frame, 1.16 s clips with one word centred, cut
  around the words pocketsphinx force-aligns in the recordings, word ids from
  ``word_list.txt`` (DAVS's word classifier);
- ``identities``: ``identities/<person>/NN.jpg``: a few photos per person (DAVS's pid
  stage), made from the two public-domain portraits by light, documented augmentation
  (:data:`IDENTITY_AUGMENTATIONS`).
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


def grace_hopper_photo() -> np.ndarray:
    """matplotlib's sample portrait of Grace Hopper (US Navy photograph, public domain):
    RGB uint8, 600x512."""
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"matplotlib's sample image not readable: {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


DEMO_CLIPS = 6
DEMO_PARTS = ("talking", "words", "identities")
WORDS_DIR, IDENTITIES_DIR, WORD_LIST = "lipread_mp4", "identities", "word_list.txt"
WORD_MIN_LETTERS = 4  # LRW's words are 4-12 letters; shorter ones are mostly function words
WORD_CLIP_FRAMES = 29  # LRW: 29 frames at 25 fps = 1.16 s, the word centred
WORD_MIN_SPEECH_S = 0.1  # the aligner's speech check must accept the word's window

# (name, what it does): each identity photo is the portrait with one of these applied,
# so the pid stage sees several faces per person; all are mild enough for dlib to detect
IDENTITY_AUGMENTATIONS: tuple[tuple[str, str], ...] = (
    ("original", "a 256x256 face-centred crop of the portrait"),
    ("mirror", "flipped left-right"),
    ("tilt_zoom", "rotated 6 degrees and zoomed in 8 %"),
    ("darker_contrast", "gamma 1.3 and contrast x1.15"),
)


def make_demo_corpus(
    root: str | os.PathLike, n_clips: int = DEMO_CLIPS, parts: tuple[str, ...] = DEMO_PARTS
) -> Path:
    """Write the demo corpus (idempotent; each part appears complete or not at all).

    ``talking``: ``root/<speaker>/<name>.mp4`` + ``.txt`` transcripts; clips cycle through
    the bundled recordings, every clip gets its own motion seed, and two speakers' folders
    hold clips with the same base name on purpose (keys must still be unique). ``words``
    and ``identities``: see the module docstring.
    """
    unknown = set(parts) - set(DEMO_PARTS)
    if unknown:
        raise ValueError(f"unknown demo parts {sorted(unknown)}; choose from {DEMO_PARTS}")
    root = Path(root)
    if "talking" in parts:
        _write_talking_clips(root, n_clips)
    if "words" in parts and not (root / WORDS_DIR).is_dir():
        _write_complete(root / WORDS_DIR, _write_word_clips, root / WORD_LIST)
    if "identities" in parts and not (root / IDENTITIES_DIR).is_dir():
        _write_complete(root / IDENTITIES_DIR, write_identity_photos)
    return root


def _write_complete(dest: Path, write, *args) -> None:
    """Write a part into a temporary folder, then rename it into place."""
    import shutil

    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    write(tmp, *args)
    try:
        tmp.rename(dest)
    except OSError:  # another process finished first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class WordToken:
    """One force-aligned word of a bundled recording."""

    word: str  # upper case, as LRW names its folders
    start: float
    end: float
    recording: str


def demo_word_tokens() -> list[WordToken]:
    """Words of at least WORD_MIN_LETTERS letters in the bundled recordings, with the times
    pocketsphinx force-aligns them to (the transcript path of ``avprep build``)."""
    from avprep.phonetics.pocketsphinx_aligner import PocketSphinxAligner

    aligner = PocketSphinxAligner()
    out = []
    for asset in speech_assets():
        audio = _at_16k(asset)
        for w in aligner.align(audio, asset.transcript).words:
            if len(w.label) >= WORD_MIN_LETTERS and w.label.isalpha():
                out.append(WordToken(w.label.upper(), w.start, w.end, asset.name))
    return out


def _at_16k(asset: SpeechAsset) -> np.ndarray:
    if asset.sample_rate == 16000:
        return asset.audio
    import soxr

    return soxr.resample(asset.audio, asset.sample_rate, 16000).astype(np.float32)


def word_window(audio: np.ndarray, token: WordToken, sr: int = 16000) -> np.ndarray:
    """The 1.16 s of ``audio`` centred on the word (zeros past either end of the recording)."""
    n = int(round(WORD_CLIP_FRAMES / 25 * sr))
    start = int(round((token.start + token.end) / 2 * sr)) - n // 2
    out = np.zeros(n, np.float32)
    piece = audio[max(start, 0) : max(start + n, 0)]
    out[max(0, -start) : max(0, -start) + len(piece)] = piece
    return out


def _write_word_clips(folder: Path, word_list: Path) -> None:
    """LRW layout: the first clip of each word goes to train, later ones to val."""
    from avprep.phonetics.aligner import speech_seconds

    audio = {a.name: _at_16k(a) for a in speech_assets()}
    faces = (face_photo(), grace_hopper_photo())
    count: dict[str, int] = {}
    for i, token in enumerate(demo_word_tokens()):
        seg = word_window(audio[token.recording], token)
        if speech_seconds(seg) < WORD_MIN_SPEECH_S:
            continue  # the build's speech check would reject this window: leave it out
        n = count[token.word] = count.get(token.word, 0) + 1
        split = "train" if n == 1 else "val"
        video = folder / token.word / split / f"{token.word}_{n:05d}.mp4"
        write_talking_clip(video, faces[i % 2], seg, 16000, n_frames=WORD_CLIP_FRAMES, seed=100 + i)
        duration = round(token.end - token.start, 2)
        video.with_suffix(".txt").write_text(
            f"Text:  {token.word}\nConf:  1.0\n\nDuration: {duration} seconds\n"
        )
    word_list.write_text("".join(f"{w}\n" for w in sorted(count)))


# Face boxes (left, top, right, bottom) in the portraits as their packages ship them, found
# once with dlib's HOG detector; identity photos are square crops of 2.2x the box around it,
# face-centred like the MS-Celeb-1M crops DAVS's pid stage trains on.
PORTRAIT_FACE_BOXES = {"astronaut": (175, 76, 265, 166), "grace_hopper": (180, 139, 366, 325)}
IDENTITY_CROP_SCALE = 2.2


def identity_photo(
    image: np.ndarray, face_box: tuple[int, int, int, int], augmentation: str, side: int = 256
) -> np.ndarray:
    """A ``side`` x ``side`` face-centred crop of ``image`` with one of
    IDENTITY_AUGMENTATIONS applied."""
    left, top, right, bottom = face_box
    cx, cy = (left + right) / 2, (top + bottom) / 2
    scale, angle = side / (IDENTITY_CROP_SCALE * max(right - left, bottom - top)), 0.0
    if augmentation == "tilt_zoom":
        scale, angle = scale * 1.08, 6.0
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[0, 2] += side / 2 - cx
    m[1, 2] += side / 2 - cy
    out = cv2.warpAffine(image, m, (side, side), flags=cv2.INTER_AREA,
                         borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    if augmentation == "mirror":
        out = out[:, ::-1]
    elif augmentation == "darker_contrast":
        x = (out.astype(np.float32) / 255.0) ** 1.3
        out = np.clip((x - 0.5) * 1.15 + 0.5, 0, 1) * 255.0
    elif augmentation not in ("original", "tilt_zoom"):
        raise ValueError(f"unknown augmentation {augmentation!r}")
    return np.ascontiguousarray(np.asarray(out).round().astype(np.uint8))


def write_identity_photos(folder: Path) -> None:
    """``folder/<person>/NN_<augmentation>.jpg`` for the two public-domain portraits."""
    for person, image in (("astronaut", face_photo()), ("grace_hopper", grace_hopper_photo())):
        (folder / person).mkdir(parents=True, exist_ok=True)
        for k, (name, _) in enumerate(IDENTITY_AUGMENTATIONS):
            photo = identity_photo(image, PORTRAIT_FACE_BOXES[person], name)
            path = folder / person / f"{k:02d}_{name}.jpg"
            if not cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)):
                raise OSError(f"could not write {path}")


def _write_talking_clips(root: Path, n_clips: int) -> None:
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
