"""Manifests made by code for the selection tests (a uniquely named module, not a
conftest, so it never collides with other test folders' helpers)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from avprep.phonetics.phoneset import PHONES


def hist(**counts: int) -> list[int]:
    """A 39-count phone histogram from ``PHONE=count`` keywords."""
    unknown = set(counts) - set(PHONES)
    assert not unknown, unknown
    return [counts.get(p, 0) for p in PHONES]


def manifest_table(rows: list[dict]) -> pa.Table:
    """A manifest with the columns select-samples relies on; missing fields get defaults."""
    full = [
        {
            "key": r["key"],
            "split": r.get("split", "train"),
            "status": r.get("status", "ok"),
            "reason": r.get("reason"),
            "shard": r.get("shard"),
            "phone_hist": r.get("phone_hist"),
        }
        for r in rows
    ]
    schema = pa.schema(
        [
            ("key", pa.string()),
            ("split", pa.string()),
            ("status", pa.string()),
            ("reason", pa.string()),
            ("shard", pa.string()),
            ("phone_hist", pa.list_(pa.int32())),
        ]
    )
    return pa.Table.from_pylist(full, schema=schema)


def skewed_histograms(n_clips: int, seed: int = 0) -> np.ndarray:
    """(n_clips, 39) phone counts with a Zipf-like corpus distribution (a few phones very
    common, some rare) and per-clip variation, like wild speech."""
    rng = np.random.default_rng(seed)
    base = 1.0 / np.arange(1, len(PHONES) + 1) ** 1.3
    rng.shuffle(base)
    base /= base.sum()
    lengths = rng.poisson(40, size=n_clips) + 1
    probs = rng.gamma(base * 20, size=(n_clips, len(PHONES)))
    probs /= probs.sum(axis=1, keepdims=True)
    return rng.poisson(lengths[:, None] * probs).astype(np.int32)


def skewed_manifest(n_clips: int, seed: int = 0) -> tuple[pa.Table, np.ndarray]:
    h = skewed_histograms(n_clips, seed)
    rows = [{"key": f"clip{i:06d}", "phone_hist": h[i].tolist()} for i in range(n_clips)]
    return manifest_table(rows), h


def hand_corpus() -> pa.Table:
    """The hand-worked corpus of docs/selection.md (totals AH 12, T 7, OY 3, ZH 2)."""
    return manifest_table(
        [
            {"key": "a", "phone_hist": hist(AH=6, T=2)},
            {"key": "b", "phone_hist": hist(AH=2, ZH=1, T=1)},
            {"key": "c", "phone_hist": hist(AH=1, OY=1, ZH=1, T=1)},
            {"key": "d", "phone_hist": hist(OY=2, AH=2)},
            {"key": "e", "phone_hist": hist(T=3, AH=1)},
            # never candidates: rejected, other split, no histogram
            {"key": "r", "status": "rejected", "reason": "no face", "phone_hist": hist(ZH=9)},
            {"key": "v", "split": "val", "phone_hist": hist(ZH=9)},
            {"key": "x", "phone_hist": None},
        ]
    )
