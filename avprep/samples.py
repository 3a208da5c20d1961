"""Turn one ClipRef into a shard sample and a manifest row (decode -> stages -> encode).

This is the whole per-clip work of ``avprep build`` as a plain class, so it is
tested without Beam and reused by any runner. A clip either yields a sample and
an ``ok`` row, or a ``rejected`` row whose reason says what to fix; an
unexpected exception in a stage is also caught and recorded (``stage_error``),
so one bad clip never stops a build.
"""

from __future__ import annotations

import io
import json
import logging
import time
import traceback
from collections.abc import Iterator
from typing import Any

import av
import cv2
import numpy as np
import soundfile as sf

import avprep
from avprep import sample_format as fmt
from avprep import storage
from avprep.build_config import BuildConfig
from avprep.clips import ClipRef, ClipRejected, ClipWork, DecodedMedia
from avprep.datasets.transcripts import check_transcript
from avprep.keys import printable, printable_values
from avprep.media import decode_clip
from avprep.pcm import quantize_pcm16, to_pcm16
from avprep.schema import SAMPLE_SCHEMA_VERSION, validate_sample_meta
from avprep.stages import Stage

log = logging.getLogger(__name__)


class FullFramesStage:
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
    if config.face_backend == "none":
        return [FullFramesStage(config.frame_side, config.jpeg_quality)]
    from avprep.face.stage import FaceConfig, FaceStage

    options = {**config.face_options, "image_format": "jpg", "detect_every": 1}
    return [FaceStage(FaceConfig(backend=config.face_backend, **options))]


def make_stages(config: BuildConfig) -> list[Stage]:
    """The stages a build runs, in order: face (or full frames), audio features, phonetics."""
    stages: list[Stage] = []
    if config.face_backend != "none":
        from avprep.face.stage import FaceConfig, FaceStage

        stages.append(FaceStage(FaceConfig(backend=config.face_backend, **config.face_options)))
    else:
        stages.append(FullFramesStage(config.frame_side, config.jpeg_quality))
    if config.features:
        from avprep.features.configs import parse_feature_configs
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


class ClipProcessor:
    """Runs decode and every stage on one clip. ``setup`` loads models once."""

    def __init__(self, config: BuildConfig, stages: list[Stage] | None = None) -> None:
        self.config = config
        self.stages = stages if stages is not None else make_stages(config)
        self.identity_stages = make_identity_stages(config) if stages is None else []
        self._versions: dict[str, str] | None = None

    def setup(self) -> None:
        for stage in [*self.stages, *self.identity_stages]:
            stage.setup()

    def preflight(self) -> None:
        """Fail now on what ``setup`` would fail on in every worker (a missing model file or
        tool), loading no more than that takes: a stage with a ``preflight`` method checks
        its files without loading models (the workers load them); others run ``setup``."""
        for stage in [*self.stages, *self.identity_stages]:
            getattr(stage, "preflight", stage.setup)()

    def versions(self) -> dict[str, str]:
        if self._versions is None:
            v = {
                "avprep": avprep.__version__,
                "numpy": np.__version__,
                "pyav": av.__version__,
                "ffmpeg": ".".join(str(x) for x in av.library_versions["libavcodec"]),
                "soundfile": sf.__version__,
                "libsndfile": sf.__libsndfile_version__,
            }
            for stage in self.stages:
                v.update(stage.versions())
            self._versions = v
        return self._versions

    def process(self, ref: ClipRef) -> tuple[dict[str, Any], dict[str, bytes] | None]:
        """Returns ``(manifest_row, sample_fields)``; fields is None for a rejection."""
        return next(iter(self.process_many([ref], batch_size=1)))

    def process_many(
        self, refs: list[ClipRef], batch_size: int = 1
    ) -> Iterator[tuple[dict[str, Any], dict[str, bytes] | None]]:
        """``process`` for each ref, in order. Stages that offer ``process_batch`` (the MFA
        aligner: one ``mfa`` process per batch, not per clip) get ``batch_size`` clips at a
        time; every other stage still sees one clip at a time. While a batch waits, its
        clips keep only their audio: frames are released once the image stages are done."""
        batched = [s for s in self.stages if hasattr(s, "process_batch")]
        size = batch_size if batched and batch_size > 1 else 1
        for i in range(0, len(refs), size):
            chunk = refs[i : i + size]
            works: list[ClipWork | None] = []
            rows: list[dict[str, Any]] = []
            starts: list[float] = []
            for ref in chunk:
                starts.append(time.perf_counter())
                rows.append(self._base_row(ref))
                works.append(self._guard(rows[-1], lambda r=ref: self._run_stages(r, size > 1)))
            if size > 1:
                self._run_batched([w for w in works if w is not None], rows, works)
            for row, work, start in zip(rows, works, starts, strict=True):
                fields = None
                if work is not None and row.get("status") != "rejected":
                    fields = self._guard(row, lambda w=work: self._finish(w))
                    if fields is not None:
                        row.update(status="ok", **work.manifest)
                # wall time stays out of the manifest, so two builds of one input write the
                # same manifest bytes; it is logged instead
                log.debug("clip %s: %.3f s", row["key"], time.perf_counter() - start)
                yield row, fields

    def _guard(self, row: dict[str, Any], step: Any) -> Any:
        """Run ``step``; a rejection (or an unexpected error) is recorded in ``row``."""
        try:
            return step()
        except ClipRejected as e:
            row.update(status="rejected", reason=e.reason, detail=printable(e.detail) or None)
        except Exception as e:  # a bug or an unforeseen input: record it, keep building
            log.exception("clip %s failed", row["key"])
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            row.update(status="rejected", reason="stage_error", detail=printable(tb))
        return None

    def _run_stages(self, ref: ClipRef, defer_batched: bool) -> ClipWork:
        if ref.error:
            reason, _, detail = ref.error.partition(":")
            raise ClipRejected(reason.strip(), detail.strip())
        work = ClipWork(ref=ref)
        t = time.perf_counter()
        work.media = self._load_media(ref)
        # quantise once: every stage and the FLAC writer see the samples the shard stores
        work.media.audio = quantize_pcm16(work.media.audio)
        work.timings["decode"] = time.perf_counter() - t
        if ref.kind == "identity":
            return self._run_identity(work)
        if ref.transcript and self.config.aligner != "none":  # before minutes of alignment
            check_transcript(ref.transcript, work.media.duration)
        for stage in self.stages:
            if defer_batched and hasattr(stage, "process_batch"):
                continue
            t = time.perf_counter()
            stage.process(work)
            work.timings[stage.name] = time.perf_counter() - t
        if defer_batched and work.media is not None:
            n = work.media.n_frames  # frames are encoded already: keep only their count
            work.media.frames = np.broadcast_to(np.zeros((1, 1, 1, 3), np.uint8), (n, 1, 1, 3))
        return work

    def _run_identity(self, work: ClipWork) -> ClipWork:
        """Each image of an identity folder through the image stages on its own; images
        without a usable face are listed in ``meta["identity"]["rejected"]``."""
        media, ref = work.media, work.ref
        kept: list[int] = []
        rejected: list[dict[str, str]] = []
        arrays: dict[str, list[np.ndarray]] = {}
        stage_meta: dict[str, Any] = {}
        for i in range(media.n_frames):
            one = ClipWork(ref=ref, media=_single_frame(media, i))
            try:
                for stage in self.identity_stages:
                    stage.process(one)
            except ClipRejected as e:
                rejected.append({"image": ref.images[i], "reason": e.reason, "detail": e.detail})
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
        work.meta["identity"] = {"images": [ref.images[i] for i in kept], "rejected": rejected}
        media.frames = media.frames[kept]
        media.timestamps = media.timestamps[: len(kept)]
        media.audio = media.audio[: len(kept) * int(round(media.sample_rate / media.fps))]
        return work

    def _run_batched(
        self, ready: list[ClipWork], rows: list[dict[str, Any]], works: list[ClipWork | None]
    ) -> None:
        clips = [w for w in ready if w.ref.kind == "clip"]
        for stage in self.stages:
            if not hasattr(stage, "process_batch") or not clips:
                continue
            t = time.perf_counter()
            results = self._guard({"key": "(batch)"}, lambda s=stage: s.process_batch(clips))
            spent = (time.perf_counter() - t) / len(clips)
            if results is None:
                results = [ClipRejected("stage_error", f"{stage.name} batch failed")] * len(clips)
            for work, result in zip(clips, results, strict=True):
                work.timings[stage.name] = spent
                if result is not None:
                    row = rows[next(i for i, w in enumerate(works) if w is work)]
                    row.update(
                        status="rejected", reason=result.reason, detail=result.detail or None
                    )

    def _finish(self, work: ClipWork) -> dict[str, bytes]:
        t = time.perf_counter()
        fields = self._encode(work)
        work.timings["encode"] = time.perf_counter() - t
        work.manifest.update(n_frames=work.media.n_frames, duration=work.media.duration)
        self.last_timings = work.timings
        return fields

    def _load_media(self, ref: ClipRef) -> DecodedMedia:
        if ref.kind == "identity":
            from avprep.images import decode_images

            return decode_images(ref.images or (ref.source,), self.config.decode)
        return decode_clip(ref.source, ref.audio, self.config.decode)

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

    def _encode(self, work: ClipWork) -> dict[str, bytes]:
        ref, media = work.ref, work.media
        assert media is not None
        fields: dict[str, bytes] = dict(work.files)
        if ref.kind == "clip":
            buf = io.BytesIO()
            # int16 in, so libsndfile stores exactly the samples the stages saw (avprep.pcm)
            pcm = to_pcm16(media.audio)
            sf.write(buf, pcm, media.sample_rate, format="FLAC", subtype="PCM_16")
            fields[fmt.AUDIO] = buf.getvalue()
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
            "versions": self.versions(),
        }
        meta.update(work.meta)
        meta = printable_values(meta)  # any file name -> valid UTF-8 text
        meta["members"] = sorted([*fields, fmt.META])
        encoded = json.dumps(meta, sort_keys=True, default=_json_default).encode()
        validate_sample_meta(json.loads(encoded))  # validate exactly what is written
        fields[fmt.META] = encoded
        return fields


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple | set):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
