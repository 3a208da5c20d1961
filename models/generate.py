"""``avprep generate``: a talking face from a user's photo (or video) and speech.

The inputs go through the same library code a build uses, so the generator sees what it was
trained on:

- face: the photo is decoded as an identity image (:func:`avprep.images.decode_images`) and
  run through avprep's face stage exactly as a build's identity path runs it (one image,
  detection on every frame); the stage's transform for the method's template
  (``transform256``: DAVS/DVAE's ``davs256``, ``transform112``: CRAN's ``cran112``; frame ->
  crop at the generator's image size) then cuts the crop from the *original* photo with
  :func:`avprep.face.alignment.warp_crop` (the template's border value, as a build's crops),
  and its inverse pastes generated crops back;
- speech: decoded and resampled to 16 kHz mono by :func:`avprep.media.decode_audio`,
  quantised to 16-bit PCM (:func:`avprep.pcm.quantize_pcm16`, as a build stores it), cut to
  whole 25 fps frames, and turned into the method's feature track and per-frame windows
  (:func:`avprep.features.tracks.compute_track`, :func:`avprep.features.windows.frame_windows`).
  Only frames whose window lies on real audio are generated (the convention's validity, as in
  training); the muxed speech is cut to exactly those frames so picture and sound stay in sync.

Methods join through :data:`GENERATORS` (method name -> generator class): DAVS (official
checkpoint or an avprep run; speech- or video-driven), CRAN (``rae``, ``cae``, ``cae_gan`` run
checkpoints) and DVAE (the ``gan`` run checkpoint, which holds its frozen VAE). A generator has
``name``, ``track`` (its audio feature), ``template`` and ``image_size`` (its face crop) and
maps (crop, :class:`Speech`) to uint8 frames, one per window; DAVS also has ``drive`` (crop,
driving crops).
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
    template: str = "davs256"  # the face template the transform aligns to (crop's border)


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


def decode_speech(
    path: str, max_seconds: float = 120.0, samples: np.ndarray | None = None
) -> np.ndarray:
    """16 kHz mono float32 speech, quantised as a build's 16-bit PCM, whole 25 fps frames.

    Uses :func:`avprep.media.decode_audio` (libswresample) on the file's default audio
    stream, so a video's soundtrack works too; ``samples`` (16 kHz mono, already decoded,
    e.g. a video's sound on its frames' time base) skips the decoding. Digital silence
    (every sample zero) is refused: it is almost always a wrong file, and a generator fed
    it only shows a shut mouth."""
    from avprep.clips import ClipRejected
    from avprep.media import DecodeConfig, decode_audio
    from avprep.pcm import quantize_pcm16

    if samples is None:
        try:
            samples, _, _ = decode_audio(path, DecodeConfig(sample_rate=SAMPLE_RATE), max_seconds)
        except ClipRejected as e:
            raise _rejected(e, "cannot use speech", path) from e
    spf = int(round(SAMPLE_RATE / FPS))
    n = (len(samples) // spf) * spf
    audio = quantize_pcm16(samples[:n])
    if not np.all(np.isfinite(audio)):
        raise GenerateError(f"speech {path!r} holds NaN or infinite samples")
    if len(audio) and not np.any(audio):
        raise GenerateError(f"speech {path!r} is silent (every sample is zero)")
    return audio


def speech_windows(
    path: str, track: str, max_seconds: float = 120.0, samples: np.ndarray | None = None
) -> Speech:
    """The ``track`` feature windows of every usable frame, computed as a build computes
    them (audio of whole frames, usable steps, the track's window convention), from the
    speech file ``path`` or from its already decoded ``samples``."""
    from avprep.features.config import get_feature_config
    from avprep.features.tracks import compute_track, track_timing
    from avprep.features.windows import frame_windows

    try:
        config = get_feature_config(track)
    except KeyError as e:  # a run trained on a build's own feature config
        raise GenerateError(
            f"the checkpoint's audio track {track!r} is not one of avprep's feature configs, "
            f"so its features cannot be recomputed here ({e.args[0]})"
        ) from e
    audio = decode_speech(path, max_seconds, samples)
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


# template name -> (the face stage's frame->crop transform array, its crop-size option)
TEMPLATE_TRANSFORMS = {"davs256": "transform256", "cran112": "transform112"}


def _face_stage(crop_size: int, backend: str, detect_every: int, template: str = "davs256"):  # type: ignore[no-untyped-def]
    from avprep.face.stage import FaceConfig, FaceStage

    if template not in TEMPLATE_TRANSFORMS:
        raise GenerateError(f"unknown face template {template!r}")
    size = {"crop_size_davs": crop_size} if template == "davs256" else {"crop_size_cran": crop_size}
    # as clip_processor.make_identity_stages configures it for photos (detection on every image)
    return FaceStage(
        FaceConfig(backend=backend, image_format="jpg", detect_every=detect_every, **size)
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


def photo_face(
    path: str, crop_size: int, backend: str = "dlib", template: str = "davs256"
) -> FaceSource:
    """Detect and align the face of a photo as a build's identity path does, to
    ``template`` (``davs256``: DAVS/DVAE's crop256; ``cran112``: CRAN's crop112)."""
    from avprep.clips import ClipRejected
    from avprep.images import decode_images, read_image
    from avprep.media import DecodeConfig

    try:
        original = read_image(path)
        media = decode_images((path,), DecodeConfig())
    except ClipRejected as e:
        raise _rejected(e, "cannot read photo", path) from e
    decoded = media.frames[0]
    work = _run_face_stage(media, _face_stage(crop_size, backend, 1, template), path)
    transform = _to_original(work.arrays[TEMPLATE_TRANSFORMS[template]][0], original, decoded)
    return FaceSource(path, original, transform, 0, template)


def _decode_video(path: str, audio_source: str | None, require_audio: bool, max_seconds: float):  # type: ignore[no-untyped-def]
    from avprep.clips import ClipRejected
    from avprep.media import DecodeConfig, decode_clip

    try:
        return decode_clip(
            path, audio_source, DecodeConfig(max_seconds=max_seconds), require_audio=require_audio
        )
    except ClipRejected as e:
        if e.reason != "no_audio":
            raise _rejected(e, "cannot read video", path) from e
        raise GenerateError(
            f"video {path!r} has no audio stream: give the speech with --audio"
        ) from e


@dataclass
class VideoTrack:
    """A video as a build sees it: its 25 fps frames, each frame's frame -> crop transform
    from the face stage run over the whole clip, and its sound on the frames' time base
    (sample 640 i at frame i; the ``audio_source`` file when one was given, None when the
    sound is not used)."""

    path: str
    frames: np.ndarray  # (N, H, W, 3) uint8, decoded as a build decodes
    transforms: np.ndarray  # (N, 2, 3)
    face_ok: np.ndarray  # (N,) bool
    audio: np.ndarray | None
    template: str

    def crops(self, size: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start .. stop-1`` cut to the template crop with their own transforms."""
        from avprep.face.alignment import warp_crop
        from avprep.face.templates import TEMPLATES

        border = TEMPLATES[self.template].border_value
        idx = range(start, len(self.frames) if stop is None else min(stop, len(self.frames)))
        return np.stack([warp_crop(self.frames[i], self.transforms[i], size, border) for i in idx])


def video_track(
    path: str,
    crop_size: int,
    backend: str = "dlib",
    audio_source: str | None = None,
    template: str = "davs256",
    max_seconds: float = 120.0,
    need_audio: bool = True,
) -> VideoTrack:
    """Decode ``path`` and run the face stage over the whole clip as a build runs it
    (detection every 5 frames, tracking between; ``audio_source``: the speech file when it
    is not the video's own sound; ``need_audio=False``: the video's sound is not used, it
    may have none)."""
    media = _decode_video(path, audio_source, need_audio, max_seconds)
    work = _run_face_stage(media, _face_stage(crop_size, backend, 5, template), path)
    return VideoTrack(
        path,
        media.frames,
        np.asarray(work.arrays[TEMPLATE_TRANSFORMS[template]], np.float64),
        np.asarray(work.arrays["face_ok"], bool),
        media.audio if need_audio else None,
        template,
    )


def reference_face(track: VideoTrack, reference_frame: int | None) -> FaceSource:
    """The frame of ``track`` to animate (``None``: its first frame with a usable face)."""
    ok, path = track.face_ok, track.path
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
    return FaceSource(
        path,
        track.frames[reference_frame],
        track.transforms[reference_frame],
        reference_frame,
        track.template,
    )


def video_face(
    path: str,
    crop_size: int,
    reference_frame: int | None,
    backend: str = "dlib",
    audio_source: str | None = None,
    template: str = "davs256",
    max_seconds: float = 120.0,
    need_audio: bool = True,
) -> FaceSource:
    """The reference frame of a video (``None``: its first frame with a usable face),
    aligned by the face stage run over the whole clip as a build runs it (see
    :func:`video_track`)."""
    track = video_track(path, crop_size, backend, audio_source, template, max_seconds, need_audio)
    return reference_face(track, reference_frame)


@dataclass
class DrivingVideo:
    """A driving video as a build sees it: every 25 fps frame's template crop, and its own
    sound on the same time base (None when it has no audio stream)."""

    path: str
    crops: np.ndarray  # (N, S, S, 3) uint8
    audio: np.ndarray | None  # N * 640 samples, sample 640 i at frame i
    face_ok: np.ndarray  # (N,) frames with a usable face of their own


def read_driving_video(
    path: str,
    crop_size: int,
    backend: str = "dlib",
    template: str = "davs256",
    max_seconds: float = 120.0,
) -> DrivingVideo:
    """Decode ``path`` to 25 fps, run the face stage over it as a build does (detection
    every 5 frames, tracking between) and cut every frame's crop with its own transform.
    Frames without a usable face of their own get the nearest good frame's transform, as
    the face stage gives every frame a crop, so the output keeps the video's length."""
    from avprep.face.alignment import warp_crop
    from avprep.face.templates import TEMPLATES

    media = _decode_video(path, None, False, max_seconds)
    work = _run_face_stage(media, _face_stage(crop_size, backend, 5, template), path)
    transforms = work.arrays[TEMPLATE_TRANSFORMS[template]]
    border = TEMPLATES[template].border_value
    crops = np.stack(
        [warp_crop(f, a, crop_size, border) for f, a in zip(media.frames, transforms, strict=True)]
    )
    audio = None
    if media.audio_stream is not None:
        from avprep.pcm import quantize_pcm16

        audio = quantize_pcm16(media.audio)
    return DrivingVideo(path, crops, audio, np.asarray(work.arrays["face_ok"], bool))


def face_crop(face: FaceSource, size: int) -> np.ndarray:
    from avprep.face.alignment import warp_crop
    from avprep.face.templates import TEMPLATES

    return warp_crop(face.image, face.transform, size, TEMPLATES[face.template].border_value)


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


def write_video(
    path: str, frames: Iterable[np.ndarray], audio: np.ndarray | None, crf: int = 18
) -> int:
    """Stream ``frames`` into an H.264 (yuv420p) + AAC (16 kHz mono) MP4 at 25 fps, written
    beside ``path`` and renamed into place when complete (``audio`` None: no audio stream).
    Returns the frame count. Odd sides are padded by one repeated row/column (yuv420p needs
    even sides)."""
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
            if audio is not None:
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
            if audio is not None and len(audio):
                pcm = to_pcm16_frame(audio)
                resampler = av.AudioResampler(format="fltp", layout="mono", rate=SAMPLE_RATE)
                start = 0
                for rf in resampler.resample(pcm) + resampler.resample(None):
                    rf.pts, rf.time_base = start, Fraction(1, SAMPLE_RATE)
                    start += rf.samples
                    container.mux(astream.encode(rf))
            if audio is not None:
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


def checkpoint_method(state: dict[str, Any]) -> tuple[str | None, str | None]:
    """(method, stage) an avprep run checkpoint records; (None, None) for a foreign file
    (e.g. the official DAVS release)."""
    config = state.get("config") if isinstance(state.get("config"), dict) else {}
    method = state.get("method") or config.get("method")
    stage = state.get("stage") or config.get("stage")
    stage = stage or (config.get("method_config") or {}).get("stage")
    return method, stage


def _check_method(state: dict[str, Any], method: str, path: str, required: bool) -> None:
    found, stage = checkpoint_method(state)
    if found is None and required:
        raise GenerateError(
            f"{path!r} is not an `avprep train {method}` checkpoint (it records no method)"
        )
    if found is not None and found != method:
        raise GenerateError(
            f"{path!r} is a {found} checkpoint (stage {stage}), not {method}: generate with "
            f"`avprep generate {found}`"
        )


def read_run_checkpoint(checkpoint: str, method: str) -> dict[str, Any]:
    """An ``avprep train METHOD`` checkpoint (a file, or a run folder: its latest), checked
    to be that method's. Loaded tensors-only (no code runs from the file)."""
    import torch

    from models.training.checkpoint import resolve_checkpoint

    what = f"{method.upper()} checkpoint {checkpoint!r}"
    if not os.path.exists(checkpoint):
        raise GenerateError(
            f"{what} not found (a checkpoint of `avprep train {method}`, or its run folder)"
        )
    try:
        path = resolve_checkpoint(checkpoint)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # no checkpoint in the folder; pickle/zip errors: not a checkpoint
        raise GenerateError(f"cannot read {what}: {e}") from e
    if not isinstance(state, dict):
        raise GenerateError(f"{what} is not an avprep run checkpoint")
    _check_method(state, method, checkpoint, required=True)
    if not isinstance(state.get("modules"), dict):
        raise GenerateError(f"{what} holds no networks ('modules')")
    return state


def run_method_config(state: dict[str, Any], method: str, path: str) -> Any:
    """The method config the run trained with (its saved ``method_config`` over the
    defaults; the run's ``train`` part, data paths and schedules, plays no part here)."""
    from models.training.config import resolve_config

    saved = (state.get("config") or {}).get("method_config") or {}
    try:
        return resolve_config(method, base={"method_config": saved}).method_config
    except Exception as e:  # a config this version cannot read
        raise GenerateError(f"{path!r}: cannot read its run config ({e})") from e


def _load_state(net: Any, states: dict[str, Any], name: str, path: str, hint: str) -> None:
    if name not in states:
        raise GenerateError(f"{path!r} holds no {name!r} network: {hint}")
    try:
        net.load_state_dict(states[name])
    except RuntimeError as e:  # shape / key mismatch
        raise GenerateError(f"{path!r}: its {name!r} does not fit the run's config ({e})") from e


def _uint8_frames(x: Any) -> np.ndarray:
    """float (N, 3, H, W) in [-1, 1] -> uint8 (N, H, W, 3) (CRAN's and DVAE's tanh range)."""
    import torch

    y = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return y.movedim(1, -1).cpu().numpy()


class DavsGenerator:
    """DAVS (Zhou et al. 2019): the official test procedure (models.davs.inference) on the
    ``davs256`` crop, driven by the ``mfcc_davs`` windows of speech or (:meth:`drive`) by a
    video's lip features."""

    name = "davs"
    track = "mfcc_davs"
    template = "davs256"

    def __init__(self, checkpoint: str, options: GenerateOptions) -> None:
        from models.davs.checkpoint import CheckpointError, read_checkpoint
        from models.davs.inference import load_generator
        from models.training.checkpoint import resolve_checkpoint

        if not os.path.exists(checkpoint):
            raise GenerateError(
                f"DAVS checkpoint {checkpoint!r} not found (the official release is "
                "101_DAVS_checkpoint.pth.tar; or a checkpoint of `avprep train davs`, or its "
                "run folder)"
            )
        try:
            state = read_checkpoint(resolve_checkpoint(checkpoint))
        except Exception as e:  # pickle/zip errors: not a checkpoint
            raise GenerateError(f"cannot read DAVS checkpoint {checkpoint!r}: {e}") from e
        if not isinstance(state, dict):
            raise GenerateError(f"{checkpoint!r} is not a DAVS checkpoint")
        _check_method(state, "davs", checkpoint, required=False)  # official: no method
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

    def _config(self):  # type: ignore[no-untyped-def]
        from models.davs.config import DavsInferenceConfig

        if self.options.finetune:
            return DavsInferenceConfig()
        return DavsInferenceConfig(finetune_steps=0)

    def __call__(self, crop: np.ndarray, speech: Speech) -> np.ndarray:
        from models.davs.inference import generate

        return generate(crop, speech.windows, self.nets, self._config())

    def drive(self, crop: np.ndarray, frames: np.ndarray) -> np.ndarray:
        """Video-driven (official ``Test_Video_Model``): one frame per driving frame, from
        the lip feature of that frame's aligned crop (x 0.8); the fine-tuning uses the
        photo's own lip feature."""
        from models.davs.inference import generate

        return generate(crop, None, self.nets, self._config(), frames=frames)


class CranGenerator:
    """CRAN (Song et al. 2019) from an ``avprep train cran`` checkpoint, on the ``cran112``
    crop and the ``mfcc_cran`` windows (350 ms, (12, 35) per frame as the view gives them).

    ``rae``: z_A of every frame's window and the photo's z_I, [z_A(t), z_I] through the GRU
    from a zero state over the whole speech in one pass (training ran it over 70-frame
    sequences from a zero state; the paper gives no other test procedure), then the decoder
    with E_I's U-Net skips. ``cae`` / ``cae_gan``: each frame on its own from [z_A(t), z_I]
    (Speech2Vid). All networks in eval mode (BatchNorm running statistics)."""

    name = "cran"
    template = "cran112"
    image_size = 112  # Tables 5-8: the networks are built for 112x112
    batch_frames = 64  # windows per forward pass (memory bound only)

    def __init__(self, checkpoint: str, options: GenerateOptions) -> None:
        from models.cran.networks import AudioEncoder, Decoder, ImageEncoder, RecurrentEncoder

        state = read_run_checkpoint(checkpoint, "cran")
        cfg = run_method_config(state, "cran", checkpoint)
        states = state.get("modules") or {}
        self.stage = cfg.stage
        self.track = cfg.track
        div = cfg.channel_divisor
        code = max(1, cfg.code_dim // div)
        nets: dict[str, Any] = {
            "audio_encoder": AudioEncoder(code, div),
            "image_encoder": ImageEncoder(code, div),
            "decoder": Decoder(2 * code, div),
        }
        self.recurrent = cfg.stage == "rae"
        if self.recurrent:
            nets["recurrent"] = RecurrentEncoder(2 * code, max(1, cfg.gru_hidden // div))
        hint = "it is not a complete CRAN generator checkpoint"
        self.device = resolve_device(options.device)
        for name, net in nets.items():
            _load_state(net, states, name, checkpoint, hint)
            net.to(self.device).eval()
        self.nets = nets
        self.options = options

    def __call__(self, crop: np.ndarray, speech: Speech) -> np.ndarray:
        import torch

        from models.data import images_to_float

        if crop.shape != (self.image_size, self.image_size, 3):
            raise GenerateError(f"CRAN needs a 112x112 crop, got {crop.shape}")
        windows = np.asarray(speech.windows, np.float32)
        if windows.ndim != 3 or windows.shape[1:] != (35, 12):
            raise GenerateError(f"CRAN needs (N, 35, 12) {self.track} windows, got {windows.shape}")
        mfcc = torch.from_numpy(np.ascontiguousarray(windows.transpose(0, 2, 1))).to(self.device)
        n, b = len(mfcc), self.batch_frames
        nets = self.nets
        out = []
        with torch.no_grad():
            ref = images_to_float(torch.from_numpy(crop).to(self.device))[None]
            z_image, skips = nets["image_encoder"](ref)
            z_audio = torch.cat([nets["audio_encoder"](mfcc[i : i + b]) for i in range(0, n, b)])
            hybrid = torch.cat([z_audio, z_image.expand(n, -1)], 1)
            code = nets["recurrent"](hybrid[None])[0] if self.recurrent else hybrid
            for i in range(0, n, b):
                part = code[i : i + b]
                rep = [s.expand(len(part), *s.shape[1:]) for s in skips]
                out.append(_uint8_frames(nets["decoder"](part, rep)))
        return np.concatenate(out)


class DvaeGenerator:
    """DVAE (Mittal & Wang 2020) from an ``avprep train dvae --stage gan`` checkpoint. The
    gan run loads its stage-1 VAE (``vae_checkpoint``) into its own ``vae`` module, frozen,
    and keeps that run's per-bin spectrogram normalisation in its extra state, so the gan
    checkpoint alone holds everything generation needs and is read consistently with what
    the generator was trained on (the VAE run itself is not re-read: it may have trained on).

    Speech -> ``logspec_dvae`` segments (20 x 200, one per frame, as the view cuts them) ->
    normalised with the stored statistics -> z_c (the posterior mean, as the trainer's
    validation and samples use) -> the U-Net generates the frames auto-regressively from
    the photo's 256 crop (frame n sees the photo, frame n-1 as generated, the photo itself
    for the first, and z_c^n)."""

    name = "dvae"
    template = "davs256"
    image_size = 256  # the crop256 stream (DAVS template) the gan stage trains on
    batch_segments = 256

    def __init__(self, checkpoint: str, options: GenerateOptions) -> None:
        from models.dvae.networks import DisentangledAudioVAE, UNetGenerator
        from models.dvae.normalize import SpectrogramStats

        state = read_run_checkpoint(checkpoint, "dvae")
        cfg = run_method_config(state, "dvae", checkpoint)
        if cfg.stage != "gan":
            raise GenerateError(
                f"{checkpoint!r} is a DVAE {cfg.stage!r} checkpoint: generation needs the "
                "stage 'gan' checkpoint (the generator, with the frozen VAE it trained with)"
            )
        states = state.get("modules") or {}
        extra = state.get("extra") or {}
        if not (extra.get("loaded") or {}).get("vae"):
            raise GenerateError(
                f"{checkpoint!r}: this gan run never loaded its stage-1 VAE (vae_checkpoint), "
                "so its z_c are meaningless"
            )
        if extra.get("normalization") is None:
            raise GenerateError(f"{checkpoint!r} holds no spectrogram normalisation")
        self.stats = SpectrogramStats.from_state(extra["normalization"])
        if self.stats.mean.shape != (cfg.n_bins,):
            raise GenerateError(
                f"{checkpoint!r}: normalisation has {self.stats.mean.shape} bins, the run "
                f"{cfg.n_bins}"
            )
        vae_state = states.get("vae") or {}
        n_seq = int(vae_state["sequence_prior.means"].shape[0]) if vae_state else 1
        vae = DisentangledAudioVAE(
            cfg.n_bins, cfg.segment_steps, cfg.lstm_hidden, cfg.lstm_layers, cfg.z_content,
            cfg.z_emotion, cfg.z_sequence, cfg.n_visemes, cfg.n_emotions, n_seq,
        )  # fmt: skip
        gen = UNetGenerator(cfg.z_content, cfg.ngf, cfg.unet_depth)
        hint = "it is not a complete DVAE gan checkpoint"
        self.device = resolve_device(options.device)
        for name, net in (("vae", vae), ("generator", gen)):
            _load_state(net, states, name, checkpoint, hint)
            net.to(self.device).eval()
        self.vae, self.generator = vae, gen
        self.track = cfg.track
        self.segment_shape = (cfg.segment_steps, cfg.n_bins)
        self.options = options

    def content(self, segments: np.ndarray) -> Any:
        """z_c posterior means (N, D) of (N, 20, 200) segments."""
        import torch

        if segments.ndim != 3 or segments.shape[1:] != self.segment_shape:
            raise GenerateError(
                f"DVAE needs (N, {self.segment_shape[0]}, {self.segment_shape[1]}) "
                f"{self.track} segments, got {segments.shape}"
            )
        x = self.stats.normalize(torch.from_numpy(np.asarray(segments, np.float32)))
        b = self.batch_segments
        with torch.no_grad():
            return torch.cat(
                [
                    self.vae.encode_content(x[i : i + b].to(self.device))[0]
                    for i in range(0, len(x), b)
                ]
            )

    def __call__(self, crop: np.ndarray, speech: Speech) -> np.ndarray:
        import torch

        from models.data import images_to_float

        z = self.content(speech.windows)
        out = np.empty((len(z), *crop.shape), np.uint8)
        with torch.no_grad():
            face = images_to_float(torch.from_numpy(crop).to(self.device))[None]
            previous = face
            for n in range(len(z)):
                previous = self.generator(face, previous, z[n : n + 1])
                out[n] = _uint8_frames(previous)[0]
        return out


GENERATORS: dict[str, Callable[[str, GenerateOptions], Any]] = {
    "davs": DavsGenerator,
    "cran": CranGenerator,
    "dvae": DvaeGenerator,
}


def load_method(method: str, checkpoint: str, options: GenerateOptions) -> Any:
    method = method.lower()
    if method not in GENERATORS:
        have = ", ".join(sorted(GENERATORS))
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
    driving_video: str | None = None,
    real_out: str | None = None,
) -> dict[str, Any]:
    """One talking-face MP4 from a photo (or a video's reference frame) and speech, or
    (``driving_video``, DAVS) the lip movements of another video.

    Frames made: speech-driven, one per 25 fps frame of the speech whose feature window
    lies whole on the speech (``first_frame`` .. ``first_frame + frames - 1``, the track's
    convention: ``mfcc_davs`` frames 2 .. N-4, ``mfcc_cran`` 4 .. N-5, ``logspec_dvae``
    3 .. N-4 of an N-frame speech), with exactly the speech under those frames muxed in;
    video-driven, one per frame of the driving video, with its own sound (if any).

    ``video`` without ``audio`` uses the video's own sound as the build decodes it (on the
    frames' time base, so a soundtrack that starts later than the picture still lines up).
    ``real_out`` (``video`` only, speech-driven): also write the video's *own* frames under
    the generated ones, ``first_frame`` .. ``first_frame + frames - 1``, cut to the same
    template crop with each frame's own transform (with ``paste_back``: the whole frames),
    with the same speech: the REAL side of ``avprep eval`` (frame i of both files shows the
    same instant; frames past the end of the video are not written)."""
    opts = options or GenerateOptions()
    if (image is None) == (video is None):
        raise GenerateError("give exactly one of --image or --video")
    if driving_video is not None and audio is not None:
        raise GenerateError("--driving-video replaces --audio (its own sound is used)")
    if driving_video is not None and not hasattr(generator, "drive"):
        raise GenerateError(
            f"--driving-video: {getattr(generator, 'name', 'this method')} generates from "
            "speech only (DAVS can also follow a video's lip movements)"
        )
    if real_out is not None and (video is None or driving_video is not None):
        raise GenerateError(
            "--real-out writes the video's own frames under the generated ones: it needs "
            "--video and speech (not --image or --driving-video)"
        )
    size, template = generator.image_size, getattr(generator, "template", "davs256")
    backend = opts.face_backend
    track: VideoTrack | None = None
    if image is not None:
        face = photo_face(image, size, backend, template)
    else:
        driven = driving_video is not None
        track = video_track(
            video, size, backend, None if driven else audio, template, opts.max_seconds,
            need_audio=not driven,
        )  # fmt: skip
        face = reference_face(track, opts.reference_frame)
    crop = face_crop(face, size)
    info: dict[str, Any]
    if driving_video is not None:
        drive = read_driving_video(driving_video, size, backend, template, opts.max_seconds)
        crops = generator.drive(crop, drive.crops)
        sound = drive.audio
        info = {"first_frame": 0, "driving_frames": len(drive.crops), "audio": sound is not None}
    else:
        speech_path = audio if audio is not None else video
        if speech_path is None:
            raise GenerateError("--audio is required with --image")
        own_sound = track.audio if track is not None and audio is None else None
        speech = speech_windows(speech_path, generator.track, opts.max_seconds, own_sound)
        crops = generator(crop, speech)
        if len(crops) != len(speech.windows):
            raise RuntimeError(f"{len(crops)} frames made for {len(speech.windows)} windows")
        sound = speech.segment
        info = {"first_frame": speech.first_frame, "speech_frames": speech.n_frames_total}
    frames: Iterable[np.ndarray] = crops
    if opts.paste_back:
        frames = paste_back(face.image, crops, face.transform, opts.feather)
    n = write_video(out, frames, sound)
    h, w = face.image.shape[:2] if opts.paste_back else crops.shape[1:3]
    result = {
        "out": os.fspath(out),
        "frames": n,
        **info,
        "size": [int(w), int(h)],
        "reference_frame": face.frame_index,
    }
    if real_out is not None and track is not None:
        first = info["first_frame"]
        stop = min(first + n, len(track.frames))
        if stop <= first:
            raise GenerateError(
                f"--real-out: {video!r} has {len(track.frames)} frames, none under the "
                f"generated ones (speech frames {first}..{first + n - 1})"
            )
        real = track.frames[first:stop] if opts.paste_back else track.crops(size, first, stop)
        spf = int(round(SAMPLE_RATE / FPS))
        result["real_out"] = os.fspath(real_out)
        result["real_frames"] = write_video(real_out, real, sound[: (stop - first) * spf])
    return result


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
