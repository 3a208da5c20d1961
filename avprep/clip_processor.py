"""Turn one ClipRef into a shard sample and a manifest row (decode -> stages -> encode).

This is the whole per-clip work of ``avprep build`` as plain classes, so it is
tested without Beam and reused by any runner. :class:`ClipProcessor` takes every
item of a build and hands it to the processor of its kind: :class:`VideoClipProcessor`
(video + audio, batching stages held back for a batch) or
:class:`IdentityPhotoProcessor` (a folder of photos, each on its own). An item either
yields a sample and an ``ok`` row, or a ``rejected`` row whose reason says what to
fix (a :class:`~avprep.clips.ClipError`); an unexpected exception in a stage is also
caught and recorded (``stage_error``), so one bad clip never stops a build.
"""

from __future__ import annotations

import io
import json
import logging
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import av
import cv2
import numpy as np
import soundfile as sf

import avprep
from avprep import sample_format as fmt
from avprep import storage
from avprep.clips import ClipError, ClipRef, ClipRejected, ClipWork, DecodedMedia
from avprep.config import BuildConfig
from avprep.datasets.transcripts import check_transcript
from avprep.face.registry import NO_FACE
from avprep.keys import printable, printable_values
from avprep.media import decode_clip
from avprep.pcm import quantize_pcm16, to_pcm16
from avprep.schema import SAMPLE_SCHEMA_VERSION, validate_sample_meta
from avprep.stages import Stage
from avprep.threads import limit_native_threads

log = logging.getLogger(__name__)


class FullFramesStage(Stage):
    """Stores downscaled full frames as JPEG members (``f00000.jpg`` ...) when no
    face stage runs, so a build without faces still carries the video."""

    name = "frames"

    def __init__(self, side: int = 256, quality: int = 90) -> None:
        self.side = side
        self.quality = quality

    def setup(self) -> None:
        pass

    def versions(self) -> dict[str, str]:
        return {"opencv": cv2.__version__}

    def process(self, work: ClipWork) -> None:
        media = work.media
        assert media is not None
        h, w = media.frames.shape[1:3]
        s = min(1.0, self.side / max(h, w))
        size = (max(1, round(w * s)), max(1, round(h * s)))
        params = [cv2.IMWRITE_JPEG_QUALITY, self.quality]
        for i, frame in enumerate(media.frames):
            if size != (w, h):
                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
            if not ok:
                raise ClipRejected("encode_failed", f"JPEG encoding failed at frame {i}")
            work.files[fmt.full_frame_member(i)] = buf.tobytes()
        work.meta["frames"] = {
            "format": "jpeg",
            "size": [size[0], size[1]],
            "pattern": fmt.FULL_FRAME_PATTERN,
        }


def make_identity_stages(config: BuildConfig) -> list[Stage]:
    """Stages for identity samples (folders of independent photos): each image is processed
    on its own, so the face stage detects in every image (no tracking across photos) and
    stores one JPEG per image."""
    if config.face_backend == NO_FACE:
        return [FullFramesStage(config.frame_side, config.jpeg_quality)]
    from avprep.face.stage import FaceConfig, FaceStage

    options = {**config.face_options, "image_format": "jpg", "detect_every": 1}
    return [FaceStage(FaceConfig.from_options(config.face_backend, options))]


def make_stages(config: BuildConfig) -> list[Stage]:
    """The stages a build runs, in order: face (or full frames), audio features, phonetics."""
    stages: list[Stage] = []
    if config.face_backend != NO_FACE:
        from avprep.face.stage import FaceConfig, FaceStage

        stages.append(FaceStage(FaceConfig.from_options(config.face_backend, config.face_options)))
    else:
        stages.append(FullFramesStage(config.frame_side, config.jpeg_quality))
    if config.features:
        from avprep.features.config import parse_feature_configs
        from avprep.features.stage import AudioFeatureStage

        extra = parse_feature_configs(config.feature_configs) if config.feature_configs else None
        stages.append(
            AudioFeatureStage(
                features=config.features,
                noise_levels_db=config.noise_levels_db,
                seed=config.noise_seed,
                extra_configs=extra,
                noise_features=config.noise_features or None,
            )
        )
    if config.aligner != "none":
        from avprep.phonetics.stage import PhoneticsStage

        stages.append(
            PhoneticsStage(
                config.aligner,
                aligner_options=config.aligner_options,
                recognize=config.recognize,
                recognizer=config.recognizer,
            )
        )
    return stages


def _single_frame(media: DecodedMedia, i: int) -> DecodedMedia:
    spf = int(round(media.sample_rate / media.fps))
    return DecodedMedia(
        frames=media.frames[i : i + 1],
        timestamps=media.timestamps[:1],
        audio=np.zeros(spf, np.float32),
        fps=media.fps,
        sample_rate=media.sample_rate,
        source_fps=media.source_fps,
        source_size=media.source_size,
        av_offset=0.0,
    )


def _renumber(field: str, index: int) -> str:
    """``crop256_00000.jpg`` of image ``index`` -> ``crop256_<index>.jpg``."""
    return fmt.renumber_frame(field, index)


def _relsource(path: str | None, root: str | None) -> str | None:
    if path is None:
        return None
    if root and path.startswith(root.rstrip("/") + "/"):  # not "/data/lrw2" for "/data/lrw"
        return storage.relpath(path, root)
    return path


class ItemProcessor:
    """Decode, stages and encode for one kind of item (``ClipRef.kind``): the flow shared by
    video clips and identity photo folders, each kind's own steps in its subclass. ``setup``
    loads the stages' models once."""

    kind: ClassVar[str]

    def __init__(self, config: BuildConfig, stages: list[Stage]) -> None:
        self.config = config
        self.stages = stages

    def relative(self, path: str) -> str:
        """``path`` relative to the corpus root when it lies under it (as ``source`` is)."""
        return _relsource(path, self.config.root) or path

    def setup(self) -> None:
        for stage in self.stages:
            stage.setup()

    def preflight(self) -> None:
        for stage in self.stages:
            stage.preflight()

    def start(self, ref: ClipRef, defer: bool) -> ClipWork:
        """Decode ``ref`` and run its stages, but those that wait for a batch when
        ``defer`` (see :meth:`VideoClipProcessor.run_deferred`)."""
        work = ClipWork(ref=ref)
        t = time.perf_counter()
        work.media = self.load(ref)
        # quantise once: every stage and the FLAC writer see the samples the shard stores
        work.media.audio = quantize_pcm16(work.media.audio)
        work.timings["decode"] = time.perf_counter() - t
        self.run(work, defer)
        return work

    def load(self, ref: ClipRef) -> DecodedMedia:
        raise NotImplementedError

    def run(self, work: ClipWork, defer: bool) -> None:
        raise NotImplementedError

    def audio_fields(self, work: ClipWork) -> dict[str, bytes]:
        """The sample's audio members (none unless the kind has audio)."""
        return {}

    def finish(self, work: ClipWork, versions: dict[str, str]) -> dict[str, bytes]:
        t = time.perf_counter()
        fields = self.encode(work, versions)
        work.timings["encode"] = time.perf_counter() - t
        work.manifest.update(n_frames=work.media.n_frames, duration=work.media.duration)
        return fields

    def encode(self, work: ClipWork, versions: dict[str, str]) -> dict[str, bytes]:
        """The shard sample's members; ``versions`` are the build's (build.json's)."""
        ref, media = work.ref, work.media
        assert media is not None
        fields: dict[str, bytes] = dict(work.files)
        fields.update(self.audio_fields(work))
        for name, arr in work.arrays.items():
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
            fields[fmt.array_member(name)] = buf.getvalue()
        meta: dict[str, Any] = {
            "schema_version": SAMPLE_SCHEMA_VERSION,
            "key": ref.key,
            "dataset": ref.dataset,
            "split": ref.split,
            "kind": ref.kind,
            "source": _relsource(ref.source, self.config.root) or "",
            "audio_source": _relsource(ref.audio, self.config.root),
            "speaker": ref.speaker,
            "transcript": ref.transcript,
            "fps": media.fps,
            "n_frames": media.n_frames,
            "duration": media.duration,
            "sample_rate": media.sample_rate,
            "source_fps": round(media.source_fps, 6),
            "source_size": list(media.source_size),
            "av_offset": round(media.av_offset, 6),
            "audio_extent": list(media.audio_extent) if media.audio_extent else None,
            "audio_stream": media.audio_stream,
            "rotation": media.rotation,
            "labels": ref.labels,
            "versions": versions,
        }
        meta.update(work.meta)
        meta = printable_values(meta)  # any file name -> valid UTF-8 text
        meta["members"] = sorted([*fields, fmt.META])
        encoded = json.dumps(meta, sort_keys=True, default=_json_default).encode()
        validate_sample_meta(json.loads(encoded))  # validate exactly what is written
        fields[fmt.META] = encoded
        return fields


class VideoClipProcessor(ItemProcessor):
    """A video clip with its audio: every stage in order; stages that batch (``batches``)
    may be deferred and run on several clips at once (:meth:`run_deferred`)."""

    kind = "clip"

    def __init__(self, config: BuildConfig, stages: list[Stage]) -> None:
        super().__init__(config, stages)
        self.deferred = [s for s in stages if s.batches]

    def load(self, ref: ClipRef) -> DecodedMedia:
        return decode_clip(ref.source, ref.audio, self.config.decode)

    def run(self, work: ClipWork, defer: bool) -> None:
        media = work.media
        assert media is not None
        if work.ref.transcript and self.config.aligner != "none":  # before minutes of alignment
            check_transcript(work.ref.transcript, media.duration)
        for stage in self.stages:
            if defer and stage.batches:
                continue
            t = time.perf_counter()
            stage.process(work)
            work.timings[stage.name] = time.perf_counter() - t
        if defer and self.deferred:
            n = media.n_frames  # frames are encoded already: keep only their count
            media.frames = np.broadcast_to(np.zeros((1, 1, 1, 3), np.uint8), (n, 1, 1, 3))

    def run_deferred(self, works: list[ClipWork]) -> list[ClipRejected | None]:
        """The batching stages on ``works`` together (MFA: one process for all). Per work,
        the rejection of the stage that refused it (later stages skip it), or None."""
        results: list[ClipRejected | None] = [None] * len(works)
        for stage in self.deferred:
            todo = [i for i, r in enumerate(results) if r is None]
            if not todo:
                break
            t = time.perf_counter()
            try:
                batch = stage.process_batch([works[i] for i in todo])
            except Exception:  # one clip's bug must not lose the others' reasons: all rejected
                log.exception("%s batch of %d clips failed", stage.name, len(todo))
                batch = [ClipRejected("stage_error", f"{stage.name} batch failed")] * len(todo)
            spent = (time.perf_counter() - t) / len(todo)
            for i, result in zip(todo, batch, strict=True):
                works[i].timings[stage.name] = spent
                results[i] = result
        return results

    def audio_fields(self, work: ClipWork) -> dict[str, bytes]:
        assert work.media is not None
        buf = io.BytesIO()
        # int16 in, so libsndfile stores exactly the samples the stages saw (avprep.pcm)
        pcm = to_pcm16(work.media.audio)
        sf.write(buf, pcm, work.media.sample_rate, format="FLAC", subtype="PCM_16")
        return {fmt.AUDIO: buf.getvalue()}


class IdentityPhotoProcessor(ItemProcessor):
    """A folder of independent photos of one person: each image through the stages on its
    own; images without a usable face are listed in ``meta["identity"]["rejected"]``."""

    kind = "identity"

    def load(self, ref: ClipRef) -> DecodedMedia:
        from avprep.images import decode_images

        return decode_images(ref.images or (ref.source,), self.config.decode)

    def run(self, work: ClipWork, defer: bool) -> None:
        media, ref = work.media, work.ref
        assert media is not None
        kept: list[int] = []
        rejected: list[dict[str, str]] = []
        arrays: dict[str, list[np.ndarray]] = {}
        stage_meta: dict[str, Any] = {}
        for i in range(media.n_frames):
            one = ClipWork(ref=ref, media=_single_frame(media, i))
            try:
                for stage in self.stages:
                    stage.process(one)
            except ClipRejected as e:
                image = self.relative(ref.images[i])
                rejected.append({"image": image, "reason": e.reason, "detail": e.detail})
                continue
            for name, data in one.files.items():
                work.files[_renumber(name, len(kept))] = data
            for name, arr in one.arrays.items():
                arrays.setdefault(name, []).append(arr)
            stage_meta = stage_meta or {k: v for k, v in one.meta.items()}
            kept.append(i)
        if not kept:
            reasons = sorted({r["reason"] for r in rejected})
            raise ClipRejected(
                reasons[0] if len(reasons) == 1 else "no_face",
                f"no usable face in any of {media.n_frames} images",
            )
        work.arrays.update({k: np.concatenate(v) for k, v in arrays.items()})
        work.meta.update(stage_meta)
        # relative to the corpus root like ``source``, so shards do not carry the machine's paths
        images = [self.relative(ref.images[i]) for i in kept]
        work.meta["identity"] = {"images": images, "rejected": rejected}
        media.frames = media.frames[kept]
        media.timestamps = media.timestamps[: len(kept)]
        media.audio = media.audio[: len(kept) * int(round(media.sample_rate / media.fps))]


@dataclass
class _Item:
    """One ref on its way through :meth:`ClipProcessor.process_many`."""

    ref: ClipRef
    row: dict[str, Any]
    start: float
    processor: ItemProcessor | None = None
    work: ClipWork | None = None  # None once rejected (or never decoded)


class ClipProcessor:
    """Every item of a build, video clip or identity photo folder, to a manifest row and a
    shard sample: decode -> stages -> encode, each kind by its own :class:`ItemProcessor`.

    The clip processor is made (and ``setup`` loads its models) up front; the identity one
    is made and set up at the first identity item, so a corpus without identity photos
    never loads a second face stage. ``stages`` / ``identity_stages`` replace the stages
    the build config names (tests)."""

    def __init__(
        self,
        config: BuildConfig,
        stages: list[Stage] | None = None,
        identity_stages: list[Stage] | None = None,
    ) -> None:
        self.config = config
        self.clips = VideoClipProcessor(
            config, stages if stages is not None else make_stages(config)
        )
        self._identity_stages = identity_stages
        self.identity: IdentityPhotoProcessor | None = None
        self._set_up = False
        self._versions: dict[str, str] | None = None

    @property
    def stages(self) -> list[Stage]:
        return self.clips.stages

    def setup(self) -> None:
        self.clips.setup()
        if self.identity is not None:
            self.identity.setup()
        self._set_up = True
        limit_native_threads()  # after the stages' imports: their BLAS libraries are loaded

    def preflight(self) -> None:
        """Fail now on what ``setup`` would fail on in every worker (a missing model file or
        tool), loading no more than that takes. The identity stages read the same model
        files as the clip face stage, checked here."""
        self.clips.preflight()

    def versions(self) -> dict[str, str]:
        """What the build's output depends on (build.json); every sample records it."""
        if self._versions is None:
            v = {
                "avprep": avprep.__version__,
                "numpy": np.__version__,
                "pyav": av.__version__,
                "ffmpeg": ".".join(str(x) for x in av.library_versions["libavcodec"]),
                "soundfile": sf.__version__,
                "libsndfile": sf.__libsndfile_version__,
            }
            for stage in self.clips.stages:
                v.update(stage.versions())
            self._versions = v
        return self._versions

    def processor_for(self, kind: str) -> ItemProcessor:
        """The processor of ``kind`` items; the identity one is made at first use."""
        if kind == VideoClipProcessor.kind:
            return self.clips
        if kind != IdentityPhotoProcessor.kind:
            raise ValueError(f"unknown item kind {kind!r} (clip or identity)")
        if self.identity is None:
            stages = self._identity_stages
            identity = IdentityPhotoProcessor(
                self.config, stages if stages is not None else make_identity_stages(self.config)
            )
            if self._set_up:
                identity.setup()
                limit_native_threads()
            self.identity = identity
        return self.identity

    def encode(self, work: ClipWork) -> dict[str, bytes]:
        """The shard sample of a processed ``work`` (tests that run stages themselves)."""
        return self.processor_for(work.ref.kind).encode(work, self.versions())

    def process(self, ref: ClipRef) -> tuple[dict[str, Any], dict[str, bytes] | None]:
        """Returns ``(manifest_row, sample_fields)``; fields is None for a rejection."""
        return next(iter(self.process_many([ref], batch_size=1)))

    def process_many(
        self, refs: list[ClipRef], batch_size: int = 1
    ) -> Iterator[tuple[dict[str, Any], dict[str, bytes] | None]]:
        """``process`` for each ref, in order. Stages that batch (``Stage.batches``: the MFA
        aligner, one ``mfa`` process per batch, not per clip) get ``batch_size`` clips at a
        time; every other stage still sees one clip at a time. While a batch waits, its
        clips keep only their audio: frames are released once the image stages are done."""
        size = batch_size if self.clips.deferred and batch_size > 1 else 1
        for i in range(0, len(refs), size):
            items = [self._start(ref, defer=size > 1) for ref in refs[i : i + size]]
            if size > 1:
                waiting = [it for it in items if it.work is not None and it.processor is self.clips]
                results = self.clips.run_deferred([it.work for it in waiting])
                for it, result in zip(waiting, results, strict=True):
                    if result is not None:
                        self._reject(it, result.error)
            for it in items:
                yield self._complete(it)

    def _start(self, ref: ClipRef, defer: bool) -> _Item:
        item = _Item(ref, self._base_row(ref), time.perf_counter())
        if ref.error is not None:  # found at discovery: nothing to decode
            self._reject(item, ref.error)
            return item
        try:
            item.processor = self.processor_for(ref.kind)
            item.work = item.processor.start(ref, defer)
        except Exception as e:
            self._fail(item, e)
        return item

    def _complete(self, item: _Item) -> tuple[dict[str, Any], dict[str, bytes] | None]:
        fields = None
        if item.work is not None and item.processor is not None:
            try:
                fields = item.processor.finish(item.work, self.versions())
                item.row.update(status="ok", **item.work.manifest)
                self.last_timings = item.work.timings
            except Exception as e:
                self._fail(item, e)
        # wall time stays out of the manifest, so two builds of one input write the
        # same manifest bytes; it is logged instead
        log.debug("clip %s: %.3f s", item.row["key"], time.perf_counter() - item.start)
        return item.row, fields

    def _fail(self, item: _Item, e: Exception) -> None:
        """A rejection, or an unexpected error (a bug or an unforeseen input: recorded as
        ``stage_error``, the build goes on)."""
        if isinstance(e, ClipRejected):
            self._reject(item, e.error)
            return
        log.exception("clip %s failed", item.row["key"])
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        self._reject(item, ClipError("stage_error", tb))

    @staticmethod
    def _reject(item: _Item, error: ClipError) -> None:
        detail = printable(error.detail) or None  # any file name -> valid UTF-8 text
        item.row.update(status="rejected", reason=error.reason, detail=detail)
        item.work = None

    def _base_row(self, ref: ClipRef) -> dict[str, Any]:
        labels = ref.labels or {}
        row = {
            "key": ref.key,
            "dataset": ref.dataset,
            "split": ref.split,
            "kind": ref.kind,
            "source": _relsource(ref.source, self.config.root) or "",
            "speaker": ref.speaker,
            "transcript": ref.transcript,
            "labels": json.dumps(labels, sort_keys=True) if labels else None,
            "word": labels.get("word"),
            "word_id": labels.get("word_id"),
            "emotion": labels.get("emotion"),
            "person_id": labels.get("person_id"),
        }
        return printable_values(row)  # any file name -> valid UTF-8 text


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple | set):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
