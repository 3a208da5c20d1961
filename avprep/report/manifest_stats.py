"""What the manifest alone says about a build: yields, durations, good runs, phones.

Everything here reads ``manifest.parquet`` column by column with pyarrow (only the columns
the report uses, only those the manifest has), so a 500,000-clip manifest is summarised
without decoding a shard (timing in ``benchmarks/results/bench_report.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from avprep import storage
from avprep.build_layout import BuildLayout
from avprep.phonetics.phoneset import PHONES
from avprep.phonetics.visemes import VISEMES, phone_id_to_viseme_id

COLUMNS = (
    "key", "split", "kind", "status", "reason", "shard", "speaker", "n_frames", "duration",
    "good_run_length", "phone_hist", "label_source", "label_confidence",
)  # fmt: skip
SPEAKER_TABLE_MAX = 40  # more speakers than this: a yield histogram and the worst speakers


@dataclass
class GroupYield:
    """Clips of one split or speaker: written, rejected, and rejected by reason."""

    name: str
    ok: int
    rejected: int
    by_reason: dict[str, int]

    @property
    def total(self) -> int:
        return self.ok + self.rejected

    @property
    def ok_fraction(self) -> float:
        return self.ok / self.total if self.total else 0.0


@dataclass
class ManifestStats:
    """The numbers and arrays the report plots from the manifest (whole build)."""

    n_clips: int
    n_ok: int
    n_rejected: int
    by_reason: dict[str, int]  # most frequent first
    by_split: list[GroupYield]
    by_speaker: list[GroupYield]  # empty when the corpus has no speakers
    duration_ok: np.ndarray
    duration_rejected: np.ndarray
    good_run_frames: np.ndarray  # ok clips with a face stage: longest good run (frames)
    good_run_fraction: np.ndarray  # ... divided by the clip's frames
    phone_counts: np.ndarray  # (39,) phone occurrences over ok clips, PHONES order
    viseme_counts: np.ndarray  # (21,) the same occurrences grouped by viseme, VISEMES order
    n_with_phones: int  # ok clips with a phone histogram
    label_confidence: np.ndarray | None  # None: the manifest has no such column
    label_source: dict[str, int]
    ok_rows: pa.Table  # key, shard (and split) of the written clips: what sampling draws from
    columns: tuple[str, ...] = field(default=())


def _column(table: pa.Table, name: str, fill: str | None = None) -> pa.ChunkedArray:
    """A string column with nulls (and empty strings) as ``fill``; all ``fill`` if absent."""
    if name not in table.column_names:
        return pa.chunked_array([pa.nulls(table.num_rows, pa.string()).fill_null(fill)])
    col = table.column(name)
    col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    return col.fill_null(fill) if fill is not None else col


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = table.column(name).cast(pa.float64())
    return col.fill_null(np.nan).to_numpy()


def _counts(arr: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    """Value counts, most frequent first (ties by name)."""
    vc = pc.value_counts(arr)
    items = zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True)
    return dict(sorted(items, key=lambda kv: (-kv[1], str(kv[0]))))


def _group_yields(groups: pa.ChunkedArray, ok: pa.ChunkedArray, reasons: pa.ChunkedArray):
    """One :class:`GroupYield` per distinct value of ``groups`` (sorted by name)."""
    t = pa.table({"g": groups, "ok": ok.cast(pa.int64()), "r": reasons})
    agg = t.group_by("g").aggregate([("ok", "sum"), ("ok", "count")])
    out = {
        g: GroupYield(str(g), int(n_ok), int(n - n_ok), {})
        for g, n_ok, n in zip(
            agg["g"].to_pylist(),
            agg["ok_sum"].to_pylist(),
            agg["ok_count"].to_pylist(),
            strict=True,
        )
    }
    rej = t.filter(pc.equal(t["ok"], 0)).group_by(["g", "r"]).aggregate([("r", "count")])
    for g, r, n in zip(
        rej["g"].to_pylist(), rej["r"].to_pylist(), rej["r_count"].to_pylist(), strict=True
    ):
        out[g].by_reason[str(r)] = int(n)
    for gy in out.values():
        gy.by_reason = dict(sorted(gy.by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
    return [out[k] for k in sorted(out)]


def read_manifest(build_dir: str) -> pa.Table:
    """The report's columns of ``BUILD/manifest.parquet`` (absent ones are skipped)."""
    path = BuildLayout(build_dir).manifest
    if not storage.exists(path):
        raise FileNotFoundError(
            f"{path} not found: not a finished avprep build (run `avprep build` first)"
        )
    with storage.open_binary(path) as f:
        pf = pq.ParquetFile(f)
        names = set(pf.schema_arrow.names)
        return pf.read(columns=[c for c in COLUMNS if c in names])


def summarize_manifest(table: pa.Table) -> ManifestStats:
    """Summarise a manifest table (see :func:`read_manifest`)."""
    ok_arrow = pc.equal(_column(table, "status", ""), "ok")
    ok = ok_arrow.to_numpy(zero_copy_only=False)
    reasons = pc.if_else(ok_arrow, "", _column(table, "reason", "unknown"))
    by_reason = _counts(reasons.filter(pc.invert(ok_arrow)))
    by_split = _group_yields(_column(table, "split", "(none)"), ok_arrow, reasons)
    speaker = _column(table, "speaker")
    has_speaker = pc.is_valid(speaker)
    by_speaker = []
    if pc.any(has_speaker).as_py():
        by_speaker = _group_yields(
            speaker.filter(has_speaker), ok_arrow.filter(has_speaker), reasons.filter(has_speaker)
        )
    duration = _floats(table, "duration")
    n_frames = _floats(table, "n_frames")
    run = _floats(table, "good_run_length")
    has_run = ok & np.isfinite(run) & (n_frames > 0)
    phone_counts = np.zeros(len(PHONES), dtype=np.int64)
    n_with_phones = 0
    if "phone_hist" in table.column_names:
        hist = table.column("phone_hist").filter(ok_arrow)
        hist = hist.filter(pc.equal(pc.list_value_length(hist), len(PHONES)))  # drops nulls
        n_with_phones = len(hist)
        if n_with_phones:
            flat = pc.list_flatten(hist).to_numpy()
            phone_counts = flat.reshape(n_with_phones, len(PHONES)).sum(axis=0, dtype=np.int64)
    # phone_hist has no SIL: phone ids are 1..39, the viseme table maps each to one group
    viseme_counts = np.bincount(
        phone_id_to_viseme_id()[1:], weights=phone_counts, minlength=len(VISEMES)
    ).astype(np.int64)
    confidence = None
    if "label_confidence" in table.column_names:
        conf = _floats(table, "label_confidence")
        confidence = conf[ok & np.isfinite(conf)]
    source = _counts(_column(table, "label_source").filter(ok_arrow).drop_null())
    ok_rows = table.select([c for c in ("key", "shard", "split") if c in table.column_names])
    return ManifestStats(
        n_clips=table.num_rows,
        n_ok=int(ok.sum()),
        n_rejected=int((~ok).sum()),
        by_reason=by_reason,
        by_split=by_split,
        by_speaker=by_speaker,
        duration_ok=duration[ok & np.isfinite(duration)],
        duration_rejected=duration[~ok & np.isfinite(duration)],
        good_run_frames=run[has_run],
        good_run_fraction=run[has_run] / n_frames[has_run],
        phone_counts=phone_counts,
        viseme_counts=viseme_counts,
        n_with_phones=n_with_phones,
        label_confidence=confidence,
        label_source=dict(sorted(source.items())),
        ok_rows=ok_rows.filter(ok_arrow),
        columns=tuple(table.column_names),
    )
