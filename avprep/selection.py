"""Phoneme-histogram sample selection (CRAN, Song et al. 2019, Algorithm 1).

Wild corpora repeat a few phones (AH, N, T ...) far more than others (ZH, OY ...);
CRAN keeps a subset whose phone distribution is closest to uniform, to cut training
time without losing rare mouth shapes. Selection reads the manifest only
(``phone_hist``: 39 phone-occurrence counts per clip in
:data:`avprep.phonetics.phoneset.PHONES` order), never the shards.

Algorithm 1, made precise
-------------------------
Candidates: manifest rows with ``status == "ok"``, the requested ``split`` and a
non-null ``phone_hist``.

1. **Rank phones** by their total count over the candidates, ascending (rarest
   first); equal totals keep ``PHONES`` order.
2. **Rank clips** so that clips holding rarer phones come first. The paper only says
   ``sort(F_N, R_ph)``; two precise rules are offered (``ranking=``):

   * ``"lexicographic"`` (the literal reading of ``sort(F_N, R_ph)``): a
     clip's key is its *share* vector ``s_p = c_p / sum(c)`` listed in phone-rarity
     order; clips are sorted by that vector descending, lexicographically. The clip
     with the largest share of the rarest phone is first; ties (e.g. clips without
     the rarest phone) are broken by the share of the second rarest phone, and so
     on. Shares, not raw counts, so long clips do not win merely by being long
     (long clips bring many common phones too). Float division is correctly
     rounded, so equal fractions compare equal and different ones keep their order.
   * ``"rarity"`` (default): a single score per clip, the mean surprisal of its phones under
     the corpus distribution, ``score = sum_p s_p * -log(P_p)`` with
     ``P_p = total_p / sum(total)`` (the cross-entropy of the clip's phone
     distribution against the corpus's). Sorted descending. Unlike the
     lexicographic rule it credits every rare phone a clip holds, not only the
     rarest one it has. On skewed synthetic corpora it reaches a far smaller
     distance to uniform than the lexicographic rule (which is barely better than a
     random subset once many clips lack the rarest phone), hence the default; see
     ``docs/selection.md``.

   Clips with no phones at all (``sum(c) == 0``) come last under both rules. Any
   remaining tie is broken by ``key`` ascending, so the ranking does not depend on
   manifest row order.
3. ``k`` times: draw ``n ~ U{n_min, ..., n_max}`` (integers, both ends inclusive)
   from ``numpy.random.default_rng(seed)``, take the top ``n`` ranked clips, sum
   their histograms, normalise, and measure the distance to the uniform
   distribution over the 39 phones. Keep the first trial with the smallest
   distance (strict ``<``, as in the paper's ``if dist < delta``).

Cost: all ``k`` draws are made first; one pass over the top ``max(n)`` ranked clips
(in bounded chunks) records the cumulative histogram at every drawn ``n``, so each
trial is O(39) rather than O(clips). Memory is one int32 (clips x 39) matrix plus
a few per-clip vectors.

Distances (``distance=``), with ``p`` the selected phone distribution and ``u`` the
uniform one (1/39 each): ``"l1"`` = sum |p - u|; ``"l2"`` = sqrt(sum (p - u)^2);
``"kl"`` = KL(p || u) = sum p log(p / u) in nats (finite even when a phone is
missing); ``"js"`` = Jensen-Shannon *distance* sqrt(JS divergence), natural log (as
``scipy.spatial.distance.jensenshannon``).

When the corpus has fewer candidates than ``n_max`` (or ``n_min``), the bound is
clamped to the candidate count and a message says so (``SelectionResult.messages``).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from avprep import storage
from avprep.build_layout import MANIFEST
from avprep.phonetics.phoneset import PHONES

N_PHONES = len(PHONES)
DISTANCES = ("l1", "l2", "kl", "js")
RANKINGS = ("lexicographic", "rarity")
PAPER_N_MIN, PAPER_N_MAX, PAPER_K = 5000, 15114, 50
SELECTION_PARQUET, SELECTION_JSON, SELECTION_PNG = (
    "selection.parquet",
    "selection.json",
    "selection.png",
)
_CHUNK_ROWS = 1 << 16  # rows gathered at a time when summing histograms


class NoPhoneHistogramsError(ValueError):
    """The manifest has no phone histograms: the build ran no forced alignment."""


@dataclass(frozen=True)
class SelectionParams:
    """What the user asked for (before clamping to the corpus size)."""

    n_min: int = PAPER_N_MIN
    n_max: int = PAPER_N_MAX
    k: int = PAPER_K
    seed: int = 0
    distance: str = "l1"
    split: str | None = "train"
    ranking: str = "rarity"
    min_confidence: float | None = None  # drop clips whose label_confidence is lower


@dataclass
class SelectionResult:
    """Ranked candidates, the chosen ``n`` and the figures for the report."""

    params: SelectionParams
    ranked_keys: pa.Array  # candidate keys, rank 0 first
    n: int  # the top ``n`` ranked keys are selected
    n_min_used: int
    n_max_used: int
    phone_rarity: tuple[str, ...]  # phones, rarest first
    hist_before: np.ndarray  # (39,) int64, all candidates
    hist_after: np.ndarray  # (39,) int64, the selected clips
    distance_before: float
    distance_after: float
    trials: list[tuple[int, float]] = field(default_factory=list)  # (n, distance) in order
    messages: list[str] = field(default_factory=list)
    source: str | None = None  # manifest path, when read from a file

    @property
    def candidates(self) -> int:
        return len(self.ranked_keys)

    @property
    def less_uniform_than_corpus(self) -> bool:
        """The chosen subset is further from uniform than the whole candidate corpus (which
        Algorithm 1 never considers: it draws ``n <= n_max``)."""
        return self.distance_after > self.distance_before

    @property
    def selected_keys(self) -> list[str]:
        return self.ranked_keys.slice(0, self.n).to_pylist()

    def figure_titles(self) -> tuple[str, str]:
        """The before/after panel titles of ``selection.png`` (CRAN Fig. 3)."""
        d = self.params.distance
        before = (
            f"(a) before selection: {self.candidates} clips, "
            f"{int(self.hist_before.sum())} phones, {d} distance to uniform "
            f"{self.distance_before:.3f}"
        )
        after = (
            f"(b) after selection: {self.n} clips, {int(self.hist_after.sum())} phones, "
            f"{d} distance to uniform {self.distance_after:.3f}"
        )
        return before, after

    def table(self) -> pa.Table:
        """``selection.parquet`` content: every candidate with its rank and flag."""
        rank = np.arange(self.candidates, dtype=np.int64)
        try:
            key = self.ranked_keys.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowCapacityError):  # over 2 GiB of keys
            key = self.ranked_keys
        return pa.table(
            {
                "key": key,
                "rank": pa.array(rank),
                "selected": pa.array(rank < self.n),
            }
        )

    def summary(self) -> dict[str, Any]:
        """``selection.json`` content."""
        return {
            "n": self.n,
            "candidates": self.candidates,
            "distance": self.params.distance,
            "distance_before": self.distance_before,
            "distance_after": self.distance_after,
            "uniformity": {
                "distance": self.params.distance,
                "whole_corpus": self.distance_before,
                "selected_subset": self.distance_after,
                "subset_less_uniform_than_corpus": self.less_uniform_than_corpus,
                "note": "distance to the uniform phone distribution, smaller is more uniform; "
                "the whole corpus is no candidate of Algorithm 1 (n <= n_max)",
            },
            "phone_coverage_before": phone_coverage(self.hist_before),
            "phone_coverage_after": phone_coverage(self.hist_after),
            "missing_phones_after": [
                p for p, c in zip(PHONES, self.hist_after, strict=True) if c == 0
            ],
            "seed": self.params.seed,
            "parameters": asdict(self.params),
            "n_min_used": self.n_min_used,
            "n_max_used": self.n_max_used,
            "phone_rarity": list(self.phone_rarity),
            "phone_counts_before": dict(zip(PHONES, map(int, self.hist_before), strict=True)),
            "phone_counts_after": dict(zip(PHONES, map(int, self.hist_after), strict=True)),
            "phones_before": int(self.hist_before.sum()),
            "phones_after": int(self.hist_after.sum()),
            "trials": [{"n": n, "distance": d} for n, d in self.trials],
            "messages": list(self.messages),
            "manifest": self.source,
        }


def phone_coverage(hist: np.ndarray) -> float:
    """Fraction of the 39 phones that occur at least once."""
    return float(np.count_nonzero(hist)) / N_PHONES


def distance_to_uniform(counts: np.ndarray, distance: str = "l1") -> float:
    """Distance between the normalised ``counts`` and the uniform distribution over
    ``len(counts)`` phones (see the module docstring); ``inf`` for an all-zero count."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        return float("inf")
    p = c / total
    u = np.full_like(p, 1.0 / len(p))
    if distance == "l1":
        return float(np.abs(p - u).sum())
    if distance == "l2":
        return float(np.sqrt(((p - u) ** 2).sum()))
    if distance == "kl":
        nz = p > 0
        return float((p[nz] * np.log(p[nz] / u[nz])).sum())
    if distance == "js":
        m = 0.5 * (p + u)
        nz = p > 0
        kl_pm = (p[nz] * np.log(p[nz] / m[nz])).sum()
        kl_um = (u * np.log(u / m)).sum()
        return float(np.sqrt(max(0.0, 0.5 * kl_pm + 0.5 * kl_um)))
    raise ValueError(f"unknown distance {distance!r}; choose one of {', '.join(DISTANCES)}")


# --------------------------------------------------------------------------- input


_MANIFEST_COLUMNS = ("key", "split", "status", "phone_hist", "label_confidence")


def _manifest_batches(
    manifest: pa.Table | str | os.PathLike,
) -> tuple[list[str], int, Iterator[pa.RecordBatch]]:
    """Column names, row count and record batches of the columns selection needs
    (streamed from parquet, so memory stays near the result's own size)."""
    if isinstance(manifest, pa.Table):
        cols = [c for c in _MANIFEST_COLUMNS if c in manifest.column_names]
        batches = manifest.select(cols).to_batches(max_chunksize=_CHUNK_ROWS)
        return cols, manifest.num_rows, iter(batches)
    path = os.fspath(manifest)
    if storage.isdir(path):
        path = storage.join(path, MANIFEST)
    if not storage.exists(path):
        raise FileNotFoundError(
            f"{path} not found: not a finished avprep build (run `avprep build` first)"
        )
    pf = pq.ParquetFile(storage.open_binary(path))
    cols = [c for c in _MANIFEST_COLUMNS if c in pf.schema_arrow.names]
    return cols, pf.metadata.num_rows, pf.iter_batches(batch_size=_CHUNK_ROWS, columns=cols)


def load_candidates(
    manifest: pa.Table | str | os.PathLike,
    split: str | None = "train",
    min_confidence: float | None = None,
) -> tuple[pa.Array, np.ndarray, list[str]]:
    """Candidate keys, their (N, 39) int32 phone histograms, and notes for the user.

    ``min_confidence`` drops clips whose ``label_confidence`` (1.0 for transcript labels,
    the recogniser's confidence for recognised ones) is lower; a manifest without that
    column predates recognition, so all its labels came from transcripts and pass.
    Raises :class:`NoPhoneHistogramsError` when no ok clip carries a histogram.
    """
    cols, num_rows, batches = _manifest_batches(manifest)
    for col in ("key", "status"):
        if col not in cols:
            raise ValueError(f"manifest has no {col!r} column")
    if split is not None and "split" not in cols:
        raise ValueError("manifest has no 'split' column; pass split=None to use every clip")
    has_hist = "phone_hist" in cols
    use_conf = min_confidence is not None and "label_confidence" in cols
    n_low_conf = 0
    key_parts: list[pa.Array] = []
    # filled in place; pages past the last candidate are never touched, so cost no memory
    hists = np.empty((num_rows, N_PHONES), dtype=np.int32)
    n_cand = 0
    splits_seen: set[str] = set()
    n_in_split = n_ok = 0
    pool = pa.default_memory_pool()
    for batch in batches:
        mask = pc.equal(batch["status"], "ok")
        if split is not None:
            splits_seen.update(s for s in pc.unique(batch["split"]).to_pylist() if s is not None)
            in_split = pc.fill_null(pc.equal(batch["split"], split), False)
            n_in_split += pc.sum(in_split).as_py() or 0
            mask = pc.and_(mask, in_split)
        mask = pc.fill_null(mask, False)
        n_ok += pc.sum(mask).as_py() or 0
        if not has_hist:
            continue
        mask = pc.and_(mask, pc.is_valid(batch["phone_hist"]))
        if use_conf:
            confident = pc.fill_null(
                pc.greater_equal(batch["label_confidence"], min_confidence), True
            )
            n_low_conf += pc.sum(pc.and_(mask, pc.invert(confident))).as_py() or 0
            mask = pc.and_(mask, confident)
        rows = batch.filter(mask)
        if rows.num_rows == 0:
            continue
        hist_col = rows.column("phone_hist")
        lengths = pc.list_value_length(hist_col)
        if pc.min(lengths).as_py() != N_PHONES or pc.max(lengths).as_py() != N_PHONES:
            raise ValueError(f"every phone_hist must hold {N_PHONES} counts (PHONES order)")
        flat = hist_col.flatten().to_numpy(zero_copy_only=False)
        if flat.min() < 0 or flat.max() > np.iinfo(np.int32).max:
            raise ValueError("phone_hist counts must be non-negative int32 values")
        hists[n_cand : n_cand + rows.num_rows] = flat.reshape(-1, N_PHONES)
        n_cand += rows.num_rows
        pool.release_unused()  # hand decoded batches back to the OS: bounded peak memory
        key_parts.append(rows.column("key"))
    if split is not None and n_in_split == 0:
        raise ValueError(f"manifest has no clips in split {split!r}; splits: {sorted(splits_seen)}")
    if n_ok == 0:
        raise ValueError(f"manifest has no ok clips in split {split!r}")
    if n_cand == 0 and n_low_conf:
        raise NoPhoneHistogramsError(
            f"every clip with a phone histogram ({n_low_conf}) has a label confidence below "
            f"{min_confidence}; lower --min-confidence or supply transcripts (--transcripts)"
        )
    if n_cand == 0:
        raise NoPhoneHistogramsError(
            "the manifest has no phone histograms (column 'phone_hist' is missing or empty): "
            "this build ran no forced alignment or phone recognition. Rebuild with the "
            "phonetics stage enabled, e.g. "
            "`avprep build <corpus> --root ... --out ... --aligner pocketsphinx` (clips "
            "without transcripts get recognised labels unless --recognize off), then run "
            "select-samples again."
        )
    hists = hists[:n_cand]
    pool.release_unused()
    # large_string: no 2 GiB limit on the concatenated keys of a huge corpus
    keys = pa.concat_arrays([k.cast(pa.large_string()) for k in key_parts])
    if keys.null_count:
        raise ValueError("manifest has ok rows with a null key")
    messages: list[str] = []
    if n_low_conf:
        messages.append(
            f"{n_low_conf} clips with label confidence below {min_confidence} are not candidates"
        )
    missing = n_ok - len(hists) - n_low_conf
    if missing:
        messages.append(
            f"{missing} of {n_ok} ok clips have no phone histogram "
            "(no transcript or alignment) and are not candidates"
        )
    return keys, hists, messages


# --------------------------------------------------------------------------- ranking


def rank_phones(totals: np.ndarray) -> np.ndarray:
    """Phone indices, rarest first (stable: equal totals keep PHONES order)."""
    return np.argsort(np.asarray(totals), kind="stable")


def _clip_totals(hists: np.ndarray) -> np.ndarray:
    return hists.sum(axis=1, dtype=np.int64)


def rank_clips(keys: pa.Array, hists: np.ndarray, ranking: str = "rarity") -> np.ndarray:
    """Row indices of ``hists`` in rank order (rank 0 first), by the module's rule."""
    if ranking not in RANKINGS:
        raise ValueError(f"unknown ranking {ranking!r}; choose one of {', '.join(RANKINGS)}")
    totals = hists.sum(axis=0, dtype=np.int64)
    rarity = rank_phones(totals)
    clip_total = _clip_totals(hists)
    safe_total = np.where(clip_total > 0, clip_total, 1).astype(np.float64)
    # least significant key first, then stable sorts by ever more significant keys
    order = pc.sort_indices(keys).to_numpy().astype(np.int64)
    if ranking == "lexicographic":
        for p in rarity[::-1]:  # most common phone first ... rarest phone last (most significant)
            share = hists[order, p] / safe_total[order]
            order = order[np.argsort(-share, kind="stable")]
        return order
    with np.errstate(divide="ignore"):
        weight = np.where(totals > 0, -np.log(totals / max(totals.sum(), 1)), 0.0)
    score = np.empty(len(hists), dtype=np.float64)
    for s in range(0, len(hists), _CHUNK_ROWS):
        score[s : s + _CHUNK_ROWS] = hists[s : s + _CHUNK_ROWS] @ weight
    score = np.where(clip_total > 0, score / safe_total, -np.inf)
    return order[np.argsort(-score[order], kind="stable")]


def prefix_histograms(
    hists: np.ndarray, order: np.ndarray, ns: Sequence[int]
) -> dict[int, np.ndarray]:
    """Summed histogram of the top ``n`` ranked clips for every ``n`` in ``ns``, in one
    chunked pass over the top ``max(ns)`` rows (the cumulative histogram sampled at ``ns``)."""
    out: dict[int, np.ndarray] = {}
    acc = np.zeros(hists.shape[1], dtype=np.int64)
    pos = 0
    for n in sorted(set(int(x) for x in ns)):
        while pos < n:
            end = min(n, pos + _CHUNK_ROWS)
            acc += hists[order[pos:end]].sum(axis=0, dtype=np.int64)
            pos = end
        out[n] = acc.copy()
    return out


# --------------------------------------------------------------------------- selection


def select_samples(
    manifest: pa.Table | str | os.PathLike,
    n_min: int = PAPER_N_MIN,
    n_max: int = PAPER_N_MAX,
    k: int = PAPER_K,
    seed: int = 0,
    distance: str = "l1",
    split: str | None = "train",
    ranking: str = "rarity",
    min_confidence: float | None = None,
) -> SelectionResult:
    """Run Algorithm 1 on a manifest (a ``pyarrow.Table``, a ``manifest.parquet`` path or
    a build folder). ``split=None`` uses every split; ``min_confidence`` keeps only clips
    whose phone labels are at least that confident (see :func:`load_candidates`)."""
    params = SelectionParams(n_min, n_max, k, seed, distance, split, ranking, min_confidence)
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1] (got {min_confidence})")
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance {distance!r}; choose one of {', '.join(DISTANCES)}")
    if ranking not in RANKINGS:
        raise ValueError(f"unknown ranking {ranking!r}; choose one of {', '.join(RANKINGS)}")
    if n_min < 1 or n_max < n_min:
        raise ValueError(f"need 1 <= n_min <= n_max (got n_min={n_min}, n_max={n_max})")
    if k < 1:
        raise ValueError(f"need k >= 1 (got k={k})")
    source = None if isinstance(manifest, pa.Table) else os.fspath(manifest)
    keys, hists, messages = load_candidates(manifest, split, min_confidence)
    n_clips = len(hists)
    lo, hi = n_min, n_max
    if n_clips < hi:
        hi = n_clips
        messages.append(
            f"corpus has {n_clips} candidate clips, fewer than n_max={n_max}: n_max clamped to {hi}"
        )
    if n_clips < lo:
        lo = n_clips
        messages.append(
            f"corpus has {n_clips} candidate clips, fewer than n_min={n_min}: "
            f"n_min clamped to {lo} (every candidate is kept; pass a smaller n_min to reduce)"
        )
    order = rank_clips(keys, hists, ranking)
    totals = hists.sum(axis=0, dtype=np.int64)

    rng = np.random.default_rng(seed)
    draws = rng.integers(lo, hi, size=k, endpoint=True)
    prefix = prefix_histograms(hists, order, draws)
    best_n, best_d = int(draws[0]), float("inf")
    trials: list[tuple[int, float]] = []
    for n in draws:
        d = distance_to_uniform(prefix[int(n)], distance)
        trials.append((int(n), d))
        if d < best_d:
            best_n, best_d = int(n), d
    distance_before = distance_to_uniform(totals, distance)
    if best_d > distance_before:
        messages.append(
            f"warning: the selected {best_n} clips are less uniform than the whole corpus "
            f"({distance} distance to uniform {best_d:.4f} > {distance_before:.4f} for all "
            f"{n_clips}); Algorithm 1 only considers n <= n_max={hi}: try a larger n_max or k, "
            "or the other ranking"
        )
    return SelectionResult(
        params=params,
        ranked_keys=keys.take(pa.array(order)),
        n=best_n,
        n_min_used=int(lo),
        n_max_used=int(hi),
        phone_rarity=tuple(PHONES[i] for i in rank_phones(totals)),
        hist_before=totals,
        hist_after=prefix[best_n],
        distance_before=distance_before,
        distance_after=best_d,
        trials=trials,
        messages=messages,
        source=source,
    )


# --------------------------------------------------------------------------- output


def write_selection(result: SelectionResult, out_dir: str | os.PathLike) -> dict[str, str]:
    """Write ``selection.parquet``, ``selection.json`` and ``selection.png`` into
    ``out_dir``; returns their paths by kind."""
    from avprep.selection_plot import render_selection_png

    out = os.fspath(out_dir)
    storage.makedirs(out)
    paths = {
        "parquet": storage.join(out, SELECTION_PARQUET),
        "json": storage.join(out, SELECTION_JSON),
        "png": storage.join(out, SELECTION_PNG),
    }
    buf = io.BytesIO()
    pq.write_table(result.table(), buf)
    storage.write_bytes(paths["parquet"], buf.getvalue())
    summary = result.summary()
    summary["files"] = {kind: os.path.basename(p) for kind, p in paths.items()}
    storage.write_text(paths["json"], json.dumps(summary, indent=2) + "\n")
    storage.write_bytes(paths["png"], render_selection_png(result))
    return paths


def load_selected_keys(selection_path: str | os.PathLike) -> set[str]:
    """Keys marked selected in a ``selection.parquet`` (or a folder holding one): the
    shard reader keeps only these."""
    path = os.fspath(selection_path)
    if storage.isdir(path):
        path = storage.join(path, SELECTION_PARQUET)
    with storage.open_binary(path) as f:
        table = pq.read_table(f, columns=["key", "selected"])
    return set(table.filter(table["selected"])["key"].to_pylist())


def format_result(result: SelectionResult) -> str:
    """The lines the CLI prints after a selection."""
    lines = [*result.messages]
    lines.append(
        f"selected {result.n} of {result.candidates} clips "
        f"(n drawn from [{result.n_min_used}, {result.n_max_used}], k={result.params.k}, "
        f"seed={result.params.seed}, ranking={result.params.ranking})"
    )
    verdict = "LESS uniform" if result.less_uniform_than_corpus else "more uniform"
    lines.append(
        f"{result.params.distance} distance to uniform: whole corpus "
        f"{result.distance_before:.4f}, selected subset {result.distance_after:.4f} "
        f"({verdict} than the whole corpus); phone coverage "
        f"{phone_coverage(result.hist_before):.0%} -> {phone_coverage(result.hist_after):.0%}"
    )
    return "\n".join(lines)
