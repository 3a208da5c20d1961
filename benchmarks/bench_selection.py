"""Benchmark: CRAN sample selection over a synthetic 1,000,000-clip manifest.

The manifest (key, split, status, reason, shard, phone_hist) is written to parquet
first; the selection then runs in a fresh child process pinned to one thread
(BLAS, Arrow), reading the parquet back, so its wall time and peak RSS are its own.
Prints the figures and saves them to benchmarks/results/selection.json.

    python benchmarks/bench_selection.py [--clips 1000000] [--k 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "selection.json"
ONE_THREAD = {v: "1" for v in (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
)}  # fmt: skip


def write_manifest(path: Path, n_clips: int, seed: int = 0) -> float:
    """A skewed (Zipf-like) synthetic manifest with ~5% rejected rows; returns seconds."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    base = 1.0 / np.arange(1, 40) ** 1.3
    rng.shuffle(base)
    base /= base.sum()
    hists = np.empty((n_clips, 39), dtype=np.int32)
    step = 100_000
    for s in range(0, n_clips, step):
        m = min(step, n_clips - s)
        probs = rng.gamma(base * 20, size=(m, 39))
        probs /= probs.sum(axis=1, keepdims=True)
        lengths = rng.poisson(40, size=m) + 1
        hists[s : s + m] = rng.poisson(lengths[:, None] * probs)
    rejected = rng.random(n_clips) < 0.05
    keys = pa.array(
        [
            f"voxceleb_id{i % 1251:05d}__clip{i:08d}_{i * 2654435761 % 16**10:010x}"
            for i in range(n_clips)
        ]
    )
    split = np.where(np.arange(n_clips) % 20 == 0, "test", "train")
    flat = pa.array(hists.reshape(-1))
    phone_hist = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 39 * n_clips + 1, 39, dtype=np.int32)),
        flat,
        mask=pa.array(rejected),
    )
    shard = pa.array([f"train-{i // 1000:06d}.tar" for i in range(n_clips)])
    table = pa.table({
        "key": keys,
        "split": pa.array(split),
        "status": pa.array(np.where(rejected, "rejected", "ok")),
        "reason": pa.array(np.where(rejected, "no face", None)),
        "shard": pa.compute.if_else(pa.array(rejected), pa.scalar(None, pa.string()), shard),
        "phone_hist": phone_hist,
    })  # fmt: skip
    pq.write_table(table, path, row_group_size=128 * 1024)
    return time.perf_counter() - t0


def child(manifest: str, k: int, out_dir: str) -> None:
    """Runs in the measured process: read, select, write outputs."""
    import resource

    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from avprep.selection import format_result, load_candidates, select_samples, write_selection

    t0 = time.perf_counter()
    keys, hists, _ = load_candidates(manifest, "train")
    t_read = time.perf_counter() - t0
    del keys, hists
    figures = {"read_manifest_s": t_read}
    for ranking in ("rarity", "lexicographic"):
        t0 = time.perf_counter()
        r = select_samples(manifest, k=k, ranking=ranking)  # paper n_min/n_max/k defaults
        figures[f"select_{ranking}_s"] = time.perf_counter() - t0
        figures[f"{ranking}_n"] = r.n
        figures[f"{ranking}_distance_before"] = r.distance_before
        figures[f"{ranking}_distance_after"] = r.distance_after
        figures["candidates"] = r.candidates
        print(format_result(r), file=sys.stderr)
    t0 = time.perf_counter()
    write_selection(r, out_dir)
    figures["write_selection_s"] = time.perf_counter() - t0
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--child", nargs=2, metavar=("MANIFEST", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.k, args.child[1])
        return
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "manifest.parquet"
        gen_s = write_manifest(manifest, args.clips)
        size_mib = manifest.stat().st_size / 2**20
        print(f"wrote synthetic manifest: {args.clips} clips, {size_mib:.1f} MiB, {gen_s:.1f} s")
        env = {
            **os.environ,
            **ONE_THREAD,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--k", str(args.k), "--child", str(manifest),
             str(Path(tmp) / "selection")],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        total_s = time.perf_counter() - t0
        sys.stderr.write(proc.stderr)
        if proc.returncode:
            raise SystemExit(proc.returncode)
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
    result = {
        "benchmark": "select_samples over a synthetic manifest (CRAN Algorithm 1)",
        "clips": args.clips,
        "k": args.k,
        "n_min": 5000,
        "n_max": 15114,
        "manifest_mib": round(size_mib, 1),
        "child_process_total_s": round(total_s, 2),
        **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in figures.items()},
        "threads": 1,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    for name, value in result.items():
        print(f"{name:>34}: {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
