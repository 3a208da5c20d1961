"""``avprep generate``: a talking face from a user's photo (or video) and speech.

The inputs go through the same library code a build uses, so the generator sees what it was
trained on:

- face: the photo is decoded as an identity image (:func:`avprep.images.decode_images`) and
  run through avprep's face stage exactly as a build's identity path runs it (one image,
  detection on every frame); the stage's ``transform256`` (frame -> crop, the method's
  template at the generator's image size) then cuts the crop from the *original* photo with
  :func:`avprep.face.alignment.warp_crop`, and its inverse pastes generated crops back;
- speech: decoded and resampled to 16 kHz mono by avprep.media's libswresample path,
  quantised to 16-bit PCM (:func:`avprep.pcm.quantize_pcm16`, as a build stores it), cut to
  whole 25 fps frames, and turned into the method's feature track and per-frame windows
  (:func:`avprep.features.tracks.compute_track`, :func:`avprep.features.windows.frame_windows`).
  Only frames whose window lies on real audio are generated (the convention's validity, as in
  training); the muxed speech is cut to exactly those frames so picture and sound stay in sync.

Methods join through :data:`GENERATORS` (method name -> generator class); only DAVS is wired.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

FPS = 25.0
SAMPLE_RATE = 16000
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".mp4", ".mkv")


class GenerateError(ValueError):
    """A bad input or option: the message names the file and what to fix."""


@dataclass
class GenerateOptions:
    device: str = "auto"  # auto (CUDA when available) | cpu | cuda | cuda:N
    finetune: bool = True  # DAVS: the official per-identity fine-tuning on the photo
    paste_back: bool = False  # write the full photo with the face pasted back
    reference_frame: int | None = None  # --video: the frame to animate (None: first good)
    face_backend: str = "dlib"
    max_seconds: float = 120.0  # longer speech is refused (frames are held in memory)
    feather: float = 0.06  # paste-back: blend band as a fraction of the crop size


@dataclass
class FaceSource:
    """The face to animate: ``image`` (H, W, 3) uint8 (the photo or the reference video
    frame) and ``transform`` (2, 3) mapping its pixels to the template crop."""

    path: str
    image: np.ndarray
    transform: np.ndarray
    frame_index: int = 0


@dataclass
class Speech:
    """Quantised 16 kHz mono samples and the method's per-frame windows."""

    path: str
    audio: np.ndarray  # float32, whole 25 fps frames
    windows: np.ndarray  # (N, steps, D) for the usable frames first..first+N-1
    first_frame: int
    n_frames_total: int

    @property
    def segment(self) -> np.ndarray:
        """The speech under the generated frames."""
        spf = int(round(SAMPLE_RATE / FPS))
        return self.audio[self.first_frame * spf : (self.first_frame + len(self.windows)) * spf]


# --------------------------------------------------------------------------- inputs


def _rejected(e: Exception, what: str, path: str) -> GenerateError:
    detail = getattr(e, "detail", None) or str(e)
    reason = getattr(e, "reason", None)
    return GenerateError(f"{what} {path!r}: {detail}" + (f" ({reason})" if reason else ""))


def decode_speech(path: str, max_seconds: float = 120.0) -> np.ndarray:
    """16 kHz mono float32 speech, quantised as a build's 16-bit PCM, whole 25 fps frames.

    Uses avprep.media's audio collector (libswresample) on the file's default audio stream,
    so a video's soundtrack works too."""
    from avprep.clips import ClipRejected
    from avprep.media import DecodeConfig, _AudioCollector, _open, _pick_audio_stream
    from avprep.pcm import quantize_pcm16

    collector = _AudioCollector(DecodeConfig(sample_rate=SAMPLE_RATE))
    try:
        with _open(path) as container:
            if not container.streams.audio:
                raise ClipRejected("no_audio", f"{path} has no audio stream")
            stream, _ = _pick_audio_stream(container, "audio")
            for frame in container.decode(stream):
                collector.feed(frame)
                if sum(c.size for c in collector.chunks) > (max_seconds + 1) * SAMPLE_RATE:
                    raise ClipRejected(
                        "too_long", f"speech longer than max_seconds={max_seconds:g} s"
                    )
        samples, _ = collector.finish()
    except ClipRejected as e:
        raise _rejected(e, "cannot use speech", path) from e
    spf = int(round(SAMPLE_RATE / FPS))
    n = (len(samples) // spf) * spf
    if n > max_seconds * SAMPLE_RATE:
        raise GenerateError(f"speech {path!r} is longer than max_seconds={max_seconds:g} s")
    audio = quantize_pcm16(samples[:n])
    if not np.all(np.isfinite(audio)):
        raise GenerateError(f"speech {path!r} holds NaN or infinite samples")
    return audio


def speech_windows(path: str, track: str, max_seconds: float = 120.0) -> Speech:
    """The ``track`` feature windows of every usable frame, computed as a build computes
    them (audio of whole frames, usable steps, the track's window convention)."""
    from avprep.features.configs import get_feature_config
    from avprep.features.tracks import compute_track, track_timing
    from avprep.features.windows import frame_windows

    audio = decode_speech(path, max_seconds)
    config = get_feature_config(track)
    timing = track_timing(config)
    n_frames = int(round(len(audio) * FPS / SAMPLE_RATE))
    if len(audio) < timing.win_length:
        raise GenerateError(f"speech {path!r} is too short ({len(audio)} samples)")
    feats = compute_track(audio, config)
    usable = timing.usable_steps(len(audio), feats.shape[0])
    fw = frame_windows(feats, n_frames, FPS, config.window, timing, usable)
    valid = np.nonzero(fw.valid)[0]
    if len(valid) == 0:
        raise GenerateError(
            f"speech {path!r} is too short: no frame has a whole {track} window "
            f"({len(audio) / SAMPLE_RATE:.2f} s)"
        )
    first, last = int(valid[0]), int(valid[-1])  # the convention's valid frames are one run
    return Speech(path, audio, fw.windows[first : last + 1], first, n_frames)


def _face_stage(crop_size: int, backend: str, detect_every: int):  # type: ignore[no-untyped-def]
    from avprep.face.stage import FaceConfig, FaceStage

    # as samples.make_identity_stages configures it for photos (detection on every image)
    return FaceStage(
        FaceConfig(
            backend=backend, image_format="jpg", detect_every=detect_every, crop_size=crop_size
        )
    )


def _run_face_stage(media: Any, stage: Any, path: str) -> Any:
    from avprep.clips import ClipRef, ClipRejected, ClipWork

    work = ClipWork(
        ref=ClipRef(key="generate", source=path, dataset="generate", split="generate"), media=media
    )
    try:
        stage.process(work)
    except ClipRejected as e:
        raise _rejected(e, "no usable face in", path) from e
    return work


def _to_original(transform: np.ndarray, original: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """A frame->crop transform of the decoded (downscaled) image, re-expressed on the
    original photo's pixels (pixel-centre convention, as warp_crop uses)."""
    from avprep.face.alignment import compose_affine

    sx = decoded.shape[1] / original.shape[1]
    sy = decoded.shape[0] / original.shape[0]
    pre = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
    return compose_affine(np.asarray(transform, np.float64), pre)


def photo_face(path: str, crop_size: int, backend: str = "dlib") -> FaceSource:
    """Detect and align the face of a photo as a build's identity path does."""
    from avprep.clips import ClipRejected
    from avprep.images import decode_images, read_image
    from avprep.media import DecodeConfig

    try:
        original = read_image(path)
        media = decode_images((path,), DecodeConfig())
    except ClipRejected as e:
        raise _rejected(e, "cannot read photo", path) from e
    decoded = media.frames[0]
    work = _run_face_stage(media, _face_stage(crop_size, backend, 1), path)
    transform = _to_original(work.arrays["transform256"][0], original, decoded)
    return FaceSource(path, original, transform, 0)


def video_face(
    path: str,
    crop_size: int,
    reference_frame: int | None,
    backend: str = "dlib",
    audio_source: str | None = None,
) -> FaceSource:
    """The reference frame of a video (``None``: its first frame with a usable face),
    aligned by the face stage run over the whole clip as a build runs it (``audio_source``:
    the speech file when it is not the video's own sound)."""
    from avprep.clips import ClipRejected
    from avprep.media import DecodeConfig, decode_clip

    try:
        media = decode_clip(path, audio_source, DecodeConfig())
    except ClipRejected as e:
        if e.reason != "no_audio":
            raise _rejected(e, "cannot read video", path) from e
        raise GenerateError(
            f"video {path!r} has no audio stream: give the speech with --audio"
        ) from e
    work = _run_face_stage(media, _face_stage(crop_size, backend, 5), path)
    ok = work.arrays["face_ok"]
    if reference_frame is None:
        reference_frame = int(np.argmax(ok))
    if not 0 <= reference_frame < len(ok):
        raise GenerateError(
            f"reference frame {reference_frame} is not in {path!r} ({len(ok)} frames at 25 fps)"
        )
    if not ok[reference_frame]:
        good = np.nonzero(ok)[0]
        raise GenerateError(
            f"frame {reference_frame} of {path!r} has no usable face (first good frame: "
            f"{int(good[0])})"
        )
    frame = media.frames[reference_frame]
    return FaceSource(path, frame, work.arrays["transform256"][reference_frame], reference_frame)


def face_crop(face: FaceSource, size: int) -> np.ndarray:
    from avprep.face.alignment import warp_crop
    from avprep.face.templates import DAVS_TEMPLATE

    return warp_crop(face.image, face.transform, size, DAVS_TEMPLATE.border_value)


def paste_back(
    image: np.ndarray, crops: Iterable[np.ndarray], transform: np.ndarray, feather: float = 0.06
) -> Iterator[np.ndarray]:
    """Each crop warped back into ``image`` with the inverse of ``transform`` (frame ->
    crop), blended over a band ``feather`` x crop size wide inside the crop's edge; pixels
    the crop does not cover are the image's own. Yields (H, W, 3) uint8 frames one at a time
    (a large photo times many frames is never held at once)."""
    import cv2

    h, w = image.shape[:2]
    a = np.asarray(transform, np.float64)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    box = None
    for crop in crops:
        if box is None:
            size = crop.shape[0]
            band = max(1, int(round(feather * size)))
            ramp = np.minimum(np.arange(size) + 1, np.arange(size)[::-1] + 1) / band
            mask_crop = np.clip(np.minimum(ramp[:, None], ramp[None, :]), 0, 1)
            mask = cv2.warpAffine(
                mask_crop.astype(np.float32), a, (w, h), flags=flags,
                borderMode=cv2.BORDER_CONSTANT, borderValue=0,
            )  # fmt: skip
            rows, cols = np.nonzero(mask > 0)
            if len(rows) == 0:  # the crop lies outside the image
                box = ()
            else:
                y0, y1, x0, x1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
                # the same inverse warp, evaluated only over the face's bounding box
                a_box = np.concatenate(
                    [a[:, :2], (a[:, :2] @ np.array([x0, y0]) + a[:, 2])[:, None]], 1
                )
                box = (y0, y1, x0, x1, mask[y0:y1, x0:x1, None], a_box)
        frame = image.copy()
        if box:
            y0, y1, x0, x1, m, a_box = box
            back = cv2.warpAffine(
                crop, a_box, (x1 - x0, y1 - y0), flags=flags, borderMode=cv2.BORDER_REPLICATE
            )
            region = frame[y0:y1, x0:x1].astype(np.float32)
            frame[y0:y1, x0:x1] = np.rint(region + m * (back - region)).astype(np.uint8)
        yield frame


def write_video(path: str, frames: Iterable[np.ndarray], audio: np.ndarray, crf: int = 18) -> int:
    """Stream ``frames`` into an H.264 (yuv420p) + AAC (16 kHz mono) MP4 at 25 fps, written
    beside ``path`` and renamed into place when complete. Returns the frame count. Odd
    sides are padded by one repeated row/column (yuv420p needs even sides)."""
    import av

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".mp4", prefix=f".{out.stem}.", dir=out.parent)
    os.close(fd)
    rate = Fraction(int(FPS))
    n = 0
    try:
        with av.open(tmp, mode="w", format="mp4") as container:
            vstream = container.add_stream("libx264", rate=rate)
            vstream.pix_fmt = "yuv420p"
            vstream.options = {"crf": str(crf), "preset": "veryfast"}
            astream = container.add_stream("aac", rate=SAMPLE_RATE)
            astream.layout = "mono"
            for frame in frames:
                h, w = frame.shape[:2]
                if h % 2 or w % 2:
                    frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
                if n == 0:
                    vstream.width, vstream.height = frame.shape[1], frame.shape[0]
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                vf.pts, vf.time_base = n, 1 / rate
                container.mux(vstream.encode(vf))
                n += 1
            container.mux(vstream.encode(None))
            pcm = to_pcm16_frame(audio)
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=SAMPLE_RATE)
            start = 0
            for rf in resampler.resample(pcm) + resampler.resample(None):
                rf.pts, rf.time_base = start, Fraction(1, SAMPLE_RATE)
                start += rf.samples
                container.mux(astream.encode(rf))
            container.mux(astream.encode(None))
        if n == 0:
            raise GenerateError(f"no frames to write to {os.fspath(path)!r}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n


def to_pcm16_frame(audio: np.ndarray):  # type: ignore[no-untyped-def]
    """The speech as one 16-bit mono PyAV frame (the samples are 16-bit already)."""
    import av

    from avprep.pcm import to_pcm16

    frame = av.AudioFrame.from_ndarray(to_pcm16(audio)[None, :], format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    return frame


# --------------------------------------------------------------------------- methods


def resolve_device(device: str):  # type: ignore[no-untyped-def]
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GenerateError(f"--device {device}: CUDA is not available on this machine")
    return torch.device(device)


class DavsGenerator:
    """DAVS (Zhou et al. 2019): the official test procedure (models.davs.inference) on the
    ``davs256`` crop and the ``mfcc_davs`` windows."""

    track = "mfcc_davs"

    def __init__(self, checkpoint: str, options: GenerateOptions) -> None:
        from models.davs.checkpoint import CheckpointError, read_checkpoint
        from models.davs.inference import load_generator

        if not os.path.isfile(checkpoint):
            raise GenerateError(
                f"DAVS checkpoint {checkpoint!r} not found (the official release is "
                "101_DAVS_checkpoint.pth.tar; or a checkpoint of `avprep train davs`)"
            )
        try:
            state = read_checkpoint(checkpoint)
        except Exception as e:  # pickle/zip errors: not a checkpoint
            raise GenerateError(f"cannot read DAVS checkpoint {checkpoint!r}: {e}") from e
        # an avprep run checkpoint records its network size; the official one is full size
        method_config = ((state.get("config") or {}).get("method_config")) or {}
        self.width = float(method_config.get("width", 1.0))
        self.image_size = int(method_config.get("image_size", 256))
        self.device = resolve_device(options.device)
        try:
            self.nets = load_generator(state, self.width, self.image_size, self.device)
        except CheckpointError as e:
            raise GenerateError(f"{checkpoint!r}: {e}") from e
        self.options = options

    def __call__(self, crop: np.ndarray, speech: Speech) -> np.ndarray:
        from models.davs.config import DavsInferenceConfig
        from models.davs.inference import generate

        cfg = (
            DavsInferenceConfig()
            if self.options.finetune
            else DavsInferenceConfig(finetune_steps=0)
        )
        return generate(crop, speech.windows, self.nets, cfg)


GENERATORS: dict[str, Callable[[str, GenerateOptions], Any]] = {"davs": DavsGenerator}
KNOWN_METHODS = ("davs", "cran", "dvae")


def load_method(method: str, checkpoint: str, options: GenerateOptions) -> Any:
    method = method.lower()
    if method not in GENERATORS:
        have = ", ".join(sorted(GENERATORS))
        if method in KNOWN_METHODS:
            raise GenerateError(
                f"generation with {method!r} is not yet supported (supported: {have})"
            )
        raise GenerateError(f"unknown method {method!r} (supported: {have})")
    return GENERATORS[method](checkpoint, options)


# --------------------------------------------------------------------------- one and many


def generate_talking_face(
    generator: Any,
    out: str,
    audio: str | None,
    image: str | None = None,
    video: str | None = None,
    options: GenerateOptions | None = None,
) -> dict[str, Any]:
    """One talking-face MP4 from a photo (or a video's reference frame) and speech."""
    opts = options or GenerateOptions()
    if (image is None) == (video is None):
        raise GenerateError("give exactly one of --image or --video")
    size = generator.image_size
    if image is not None:
        face = photo_face(image, size, opts.face_backend)
    else:
        face = video_face(video, size, opts.reference_frame, opts.face_backend, audio)
    speech_path = audio if audio is not None else video
    if speech_path is None:
        raise GenerateError("--audio is required with --image")
    speech = speech_windows(speech_path, generator.track, opts.max_seconds)
    crop = face_crop(face, size)
    crops = generator(crop, speech)
    frames: Iterable[np.ndarray] = crops
    if opts.paste_back:
        frames = paste_back(face.image, crops, face.transform, opts.feather)
    n = write_video(out, frames, speech.segment)
    h, w = face.image.shape[:2] if opts.paste_back else crops.shape[1:3]
    return {
        "out": os.fspath(out),
        "frames": n,
        "first_frame": speech.first_frame,
        "speech_frames": speech.n_frames_total,
        "size": [int(w), int(h)],
        "reference_frame": face.frame_index,
    }


@dataclass
class Pair:
    name: str
    image: str
    audio: str


def read_pairs(source: str) -> list[Pair]:
    """(photo, speech) pairs: a folder whose images and audio files share a stem, or a CSV
    with ``image,audio`` columns (optional ``name``; relative paths are from the CSV)."""
    if os.path.isdir(source):
        files = sorted(os.listdir(source))
        images = {Path(f).stem: f for f in files if f.lower().endswith(IMAGE_EXTENSIONS)}
        audios = {Path(f).stem: f for f in files if f.lower().endswith(AUDIO_EXTENSIONS)}
        pairs = [
            Pair(s, os.path.join(source, images[s]), os.path.join(source, audios[s]))
            for s in sorted(images.keys() & audios.keys())
        ]
        if not pairs:
            raise GenerateError(f"no (photo, speech) pairs with a common file stem in {source!r}")
        return pairs
    if not os.path.isfile(source):
        raise GenerateError(f"pairs {source!r} is neither a folder nor a CSV file")
    base = os.path.dirname(os.path.abspath(source))
    with open(source, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image", "audio"} <= set(rows[0]):
        raise GenerateError(f"pairs CSV {source!r} needs 'image' and 'audio' columns")
    pairs = []
    for i, row in enumerate(rows):
        image, audio = (os.path.join(base, row[k]) for k in ("image", "audio"))
        pairs.append(Pair(_safe_name(row.get("name") or Path(image).stem, i), image, audio))
    names = [p.name for p in pairs]
    if len(set(names)) != len(names):
        raise GenerateError(f"pairs CSV {source!r}: output names repeat; add a 'name' column")
    return pairs


def _safe_name(name: str, i: int) -> str:
    clean = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._")
    return clean or f"pair{i:05d}"


@dataclass
class BatchSummary:
    ok: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"n_ok": len(self.ok), "n_failed": len(self.failed), **asdict(self)}


def generate_batch(
    generator: Any,
    pairs: Sequence[Pair],
    out_dir: str,
    options: GenerateOptions | None = None,
    progress: bool = True,
) -> BatchSummary:
    """One MP4 per pair in ``out_dir``; a failing pair is recorded with its reason and the
    batch goes on. Writes ``out_dir/summary.json``."""
    from tqdm import tqdm

    os.makedirs(out_dir, exist_ok=True)
    summary = BatchSummary()
    bar: Iterable[Pair] = tqdm(pairs, desc="generate", unit="pair", disable=not progress)
    for pair in bar:
        out = os.path.join(out_dir, pair.name + ".mp4")
        row = {"name": pair.name, "image": pair.image, "audio": pair.audio}
        try:
            summary.ok.append(
                {
                    **row,
                    **generate_talking_face(
                        generator, out, pair.audio, image=pair.image, options=options
                    ),
                }
            )
        except GenerateError as e:
            summary.failed.append({**row, "error": str(e)})
        except Exception as e:  # an unexpected failure is recorded too, never stops the batch
            summary.failed.append(
                {**row, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
            )
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary.to_json(), f, indent=2)
    return summary
