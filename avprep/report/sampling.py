"""What a few shards say about a build: faces, head pose, good frames, one sample's audio.

The report never decodes the whole build. :func:`choose_samples` draws ``n`` written clips at
random from the manifest (seeded), so at most ``n`` shards are read; every sample of those
shards contributes its cheap members (metadata, ``pose.npy``), the drawn ones their crops for
the contact sheet, and the first ``mean_face_clips`` a few frames each to the mean face.
Shards are read through :mod:`avprep.reader` (``iter_shard_samples`` + ``ShardSample``), so a
damaged or hostile shard fails here exactly as it fails for training; the report lists the
error and goes on with the other shards.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from avprep.build_layout import BuildLayout
from avprep.reader import ShardSample, iter_shard_samples
from avprep.reader.sample import field_hint

log = logging.getLogger(__name__)

SHEET_STREAMS = ("crop256", "crop112", "mouth")
LANDMARKS = {"crop256": "landmarks_crop256", "crop112": "landmarks_crop112",
             "mouth": "landmarks_mouth"}  # fmt: skip
MEAN_FACE_FRAMES = 5  # evenly spaced frames per clip in the mean face


@dataclass
class SheetRow:
    """One contact-sheet sample: first, middle and last frame of each crop stream."""

    key: str
    caption: dict[str, str]
    frame_indices: tuple[int, ...]
    frames: dict[str, np.ndarray]  # stream -> (3, H, W, 3) uint8
    landmarks: dict[str, np.ndarray]  # stream -> (3, P, 2) crop pixels (NaN: no face)
    face_ok: np.ndarray  # (3,) bool


@dataclass
class MeanFace:
    """Running mean of crop frames (float64 sums) and of their landmarks."""

    sums: dict[str, np.ndarray] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    lm_sums: dict[str, np.ndarray] = field(default_factory=dict)
    lm_counts: Counter = field(default_factory=Counter)
    clips: int = 0

    def add(self, stream: str, frames: np.ndarray, landmarks: np.ndarray | None) -> None:
        total = frames.astype(np.float64).sum(axis=0)
        if stream in self.sums and self.sums[stream].shape != total.shape:
            return  # another crop size in the same build: keep the first
        self.sums[stream] = self.sums.get(stream, 0) + total
        self.counts[stream] += len(frames)
        if landmarks is not None:
            good = np.isfinite(landmarks).all(axis=(1, 2))
            if good.any():
                self.lm_sums[stream] = self.lm_sums.get(stream, 0) + landmarks[good].sum(0)
                self.lm_counts[stream] += int(good.sum())

    def image(self, stream: str) -> np.ndarray | None:
        if not self.counts[stream]:
            return None
        return np.clip(self.sums[stream] / self.counts[stream] + 0.5, 0, 255).astype(np.uint8)

    def landmarks(self, stream: str) -> np.ndarray | None:
        if not self.lm_counts[stream]:
            return None
        return self.lm_sums[stream] / self.lm_counts[stream]


@dataclass
class SampledStats:
    """Everything the report took from the shards it read."""

    n_requested: int
    shards_read: list[str] = field(default_factory=list)
    samples_read: int = 0
    errors: list[str] = field(default_factory=list)  # shard/sample errors, as the reader says
    sheet: list[SheetRow] = field(default_factory=list)
    mean_face: MeanFace = field(default_factory=MeanFace)
    good_frame_fraction: list[float] = field(default_factory=list)
    poses: list[np.ndarray] = field(default_factory=list)  # (T, 3) yaw, pitch, roll, face frames
    pose_limits: dict[str, float] = field(default_factory=dict)
    phonetics_status: Counter = field(default_factory=Counter)
    meta_confidence: list[float] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # member -> how a build makes it
    audio_sample: ShardSample | None = None
    with_face: int = 0
    with_features: int = 0

    def pose_array(self) -> np.ndarray:
        return np.concatenate(self.poses) if self.poses else np.zeros((0, 3), np.float32)


def choose_samples(ok_rows: pa.Table, n: int, seed: int) -> dict[str, set[str]]:
    """``{shard: {key, ...}}`` of ``n`` written clips drawn at random (seeded)."""
    if n <= 0 or ok_rows.num_rows == 0 or "shard" not in ok_rows.column_names:
        return {}
    rng = np.random.default_rng(seed)
    picked = rng.choice(ok_rows.num_rows, size=min(n, ok_rows.num_rows), replace=False)
    rows = ok_rows.take(pa.array(np.sort(picked)))
    out: dict[str, set[str]] = {}
    for key, shard in zip(
        rows.column("key").to_pylist(), rows.column("shard").to_pylist(), strict=True
    ):
        if shard:
            out.setdefault(shard, set()).add(key)
    return out


def _three(n: int) -> tuple[int, ...]:
    return tuple(sorted({0, (n - 1) // 2, n - 1}))


def _caption(s: ShardSample) -> dict[str, str]:
    m = s.meta
    cap = {"key": s.key, "split": s.split, "frames": str(s.n_frames)}
    for name in ("speaker", "transcript"):
        if m.get(name):
            cap[name] = str(m[name])
    face = m.get("face") or {}
    if "good_frames" in face:
        cap["good frames"] = f"{face['good_frames']}/{s.n_frames}"
    return cap


def _has_crops(s: ShardSample) -> bool:
    try:
        return all(s.stream_format(st) in ("mp4", "jpg") for st in SHEET_STREAMS)
    except KeyError:
        return False


def _landmarks_at(s: ShardSample, stream: str, idx: list[int]) -> np.ndarray | None:
    name = LANDMARKS[stream]
    if not s.has_array(name):
        return None
    lm = s.array(name)
    return lm[idx] if lm.ndim == 3 and len(lm) >= max(idx) + 1 else None


def _use_sample(stats: SampledStats, s: ShardSample, drawn: bool, mean_face_clips: int) -> None:
    if s.kind == "clip" and stats.audio_sample is None and drawn and s.meta.get("audio_features"):
        stats.audio_sample = s
    face = s.meta.get("face") or {}
    if s.kind == "clip" and s.n_frames > 0 and "good_frames" in face:  # identity: per photo
        stats.good_frame_fraction.append(float(face["good_frames"]) / s.n_frames)
    if face.get("pose_limits"):
        stats.pose_limits = {k: float(v) for k, v in face["pose_limits"].items()}
    if s.has_array("pose"):
        pose = s.array("pose")
        if pose.ndim == 2 and pose.shape[1] == 3:
            stats.poses.append(pose[np.isfinite(pose).all(axis=1)].astype(np.float32))
    phon = s.meta.get("phonetics") or {}
    if phon.get("status"):
        stats.phonetics_status[str(phon["status"])] += 1
    if isinstance(phon.get("confidence"), int | float):
        stats.meta_confidence.append(float(phon["confidence"]))
    stats.with_features += bool(s.meta.get("audio_features"))
    if not _has_crops(s):
        if s.kind == "clip":
            for name in ("crop256", "pose"):
                stats.missing.setdefault(name, field_hint(name, s.meta))
        return
    stats.with_face += 1
    if s.n_frames < 1:
        return
    if drawn:
        idx = list(_three(s.n_frames))
        frames = {st: s.frames(st, idx) for st in SHEET_STREAMS}
        lms = {st: lm for st in SHEET_STREAMS if (lm := _landmarks_at(s, st, idx)) is not None}
        ok = s.array("face_ok")[idx] if s.has_array("face_ok") else np.ones(len(idx), bool)
        stats.sheet.append(SheetRow(s.key, _caption(s), tuple(idx), frames, lms, ok))
    if stats.mean_face.clips < mean_face_clips:
        k = min(MEAN_FACE_FRAMES, s.n_frames)
        idx = sorted({int(round(x)) for x in np.linspace(0, s.n_frames - 1, k)})
        for st in ("crop256", "crop112"):
            stats.mean_face.add(st, s.frames(st, idx), _landmarks_at(s, st, idx))
        stats.mean_face.clips += 1


def sample_shards(
    build_dir: str, chosen: dict[str, set[str]], n_requested: int, mean_face_clips: int = 64
) -> SampledStats:
    """Read the shards of the drawn clips (in name order) and collect :class:`SampledStats`."""
    stats = SampledStats(n_requested)
    for shard in sorted(chosen):
        url = BuildLayout(build_dir).shard(shard)
        stats.shards_read.append(shard)
        try:
            for key, fields in iter_shard_samples(url):
                try:
                    sample = ShardSample.from_fields(key, fields, url)
                    _use_sample(stats, sample, key in chosen[shard], mean_face_clips)
                    stats.samples_read += 1
                except Exception as e:  # noqa: BLE001 - a bad sample is reported, not fatal
                    stats.errors.append(f"{shard} sample {key}: {type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - an unreadable shard is reported, not fatal
            stats.errors.append(f"{shard}: {type(e).__name__}: {e}")
            log.warning("report: cannot read %s: %s", url, e)
    return stats


__all__ = ["SampledStats", "SheetRow", "choose_samples", "sample_shards"]
