"""What the manifest alone says about a build: yields, durations, good runs, phones.

Everything here reads ``manifest.parquet`` column by column with pyarrow (only the columns
the report uses, only those the manifest has), so a 500,000-clip manifest is summarised
without decoding a shard (timing in ``benchmarks/results/bench_report.json``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from avprep import storage
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


def _strings(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, None, dtype=object)
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=object)


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = table.column(name).cast(pa.float64())
    return col.fill_null(np.nan).to_numpy()


def _group_yields(names: np.ndarray, ok: np.ndarray, reasons: np.ndarray) -> list[GroupYield]:
    groups: dict[str, GroupYield] = {}
    uniq, inverse = np.unique(names.astype(str), return_inverse=True)
    n_ok = np.bincount(inverse, weights=ok, minlength=len(uniq)).astype(int)
    n_all = np.bincount(inverse, minlength=len(uniq))
    for i, name in enumerate(uniq):
        groups[name] = GroupYield(str(name), int(n_ok[i]), int(n_all[i] - n_ok[i]), {})
    rej = ~ok
    for (g, r), n in Counter(zip(inverse[rej], reasons[rej], strict=True)).items():
        groups[uniq[g]].by_reason[str(r)] = n
    for g in groups.values():
        g.by_reason = dict(sorted(g.by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
    return [groups[k] for k in sorted(groups)]


def read_manifest(build_dir: str) -> pa.Table:
    """The report's columns of ``BUILD/manifest.parquet`` (absent ones are skipped)."""
    path = storage.join(build_dir, "manifest.parquet")
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
    status = _strings(table, "status")
    ok = status == "ok"
    raw = _strings(table, "reason")
    reasons = np.array(["" if o else (r or "unknown") for o, r in zip(ok, raw, strict=True)])
    by_reason = Counter(reasons[~ok].tolist())
    split = _strings(table, "split")
    split = np.array([s if s else "(none)" for s in split], dtype=object)
    speaker = _strings(table, "speaker")
    has_speaker = np.array([s is not None and s != "" for s in speaker])
    by_speaker = (
        _group_yields(speaker[has_speaker], ok[has_speaker], reasons[has_speaker])
        if has_speaker.any()
        else []
    )
    duration = _floats(table, "duration")
    n_frames = _floats(table, "n_frames")
    run = _floats(table, "good_run_length")
    has_run = ok & np.isfinite(run) & (n_frames > 0)
    phone_counts = np.zeros(len(PHONES), dtype=np.int64)
    n_with_phones = 0
    if "phone_hist" in table.column_names:
        hist = table.column("phone_hist").filter(pa.array(ok))
        hist = hist.filter(pc.invert(pc.is_null(hist)))
        n_with_phones = len(hist)
        if n_with_phones:
            flat = pc.list_flatten(hist).to_numpy().astype(np.int64)
            phone_counts = flat.reshape(n_with_phones, len(PHONES)).sum(axis=0)
    # phone_hist has no SIL: phone ids are 1..39, the viseme table maps each to one group
    viseme_counts = np.bincount(
        phone_id_to_viseme_id()[1:], weights=phone_counts, minlength=len(VISEMES)
    ).astype(np.int64)
    confidence = None
    if "label_confidence" in table.column_names:
        conf = _floats(table, "label_confidence")
        confidence = conf[ok & np.isfinite(conf)]
    source = Counter(s for s in _strings(table, "label_source")[ok].tolist() if s)
    ok_rows = table.select([c for c in ("key", "shard", "split") if c in table.column_names])
    return ManifestStats(
        n_clips=table.num_rows,
        n_ok=int(ok.sum()),
        n_rejected=int((~ok).sum()),
        by_reason=dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_split=_group_yields(split, ok, reasons),
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
        ok_rows=ok_rows.filter(pa.array(ok)),
        columns=tuple(table.column_names),
    )
