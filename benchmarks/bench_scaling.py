"""Benchmark how `avprep build` scales with workers: clips/s on DirectRunner (multi-processing)
and DaskRunner (a local cluster of N single-threaded worker processes), full stages (dlib
face, four feature tracks, pocketsphinx). Prints a table and saves
benchmarks/results/scaling.json.

    python benchmarks/bench_scaling.py                       # 1 and 2 workers, 12 clips
    python benchmarks/bench_scaling.py --workers 1 2 4 8 16 --clips 192   # a 16-core machine

Each run is a whole build, timed from the call to the end of ``build.json``: Dask's cluster
start-up and every worker's model loading are part of what a user waits for. Efficiency is
clips/s at N workers over N times clips/s at one worker (1.0 = linear).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from avprep.config import BuildConfig
from avprep.datasets.demo_media import make_demo_corpus
from pipelines.build import run_build

FULL = dict(
    face_backend="dlib",
    features=("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"),
    aligner="pocketsphinx",
)
RUNNER_ARGS = {"direct": [], "dask": ["--runner=DaskRunner"]}


def build_rate(root: Path, out: Path, runner: str, workers: int, shard_size: int) -> dict:
    config = BuildConfig(
        dataset="folder", root=str(root), out=str(out), shard_size=shard_size, **FULL
    )
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    result = run_build(config, RUNNER_ARGS[runner], workers=workers, report=False)
    seconds = time.perf_counter() - start
    n = result.info["counts"]["ok"]
    return {
        "runner": runner,
        "workers": workers,
        "clips": n,
        "shards": result.shards_total,
        "seconds": round(seconds, 2),
        "clips_per_s": round(n / seconds, 3),
        # other processes' load (1-min average) before and after: on a shared machine a run
        # that met more load is slower for that reason alone
        "loadavg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=12)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runners", nargs="+", choices=sorted(RUNNER_ARGS), default=["direct", "dask"])
    ap.add_argument("--shard-size", type=int, default=2, help="small: enough shards to spread")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "scaling.json"))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker process
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        root = make_demo_corpus(Path(tmp) / "corpus", n_clips=args.clips)
        for workers in args.workers:  # runners interleaved: a shared machine's load hits both
            for runner in args.runners:
                out = Path(tmp) / f"{runner}-{workers}"
                runs.append(build_rate(root, out, runner, workers, args.shard_size))
                print(json.dumps(runs[-1]))
    for run in runs:
        one = next(r for r in runs if r["runner"] == run["runner"] and r["workers"] == 1)
        run["efficiency"] = round(run["clips_per_s"] / (run["workers"] * one["clips_per_s"]), 3)
    result = {
        "benchmark": "avprep build scaling (demo clips, full stages: dlib face, 4 feature "
        "tracks, pocketsphinx); DirectRunner multi-processing vs DaskRunner local cluster",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "shard_size": args.shard_size,
        "runs": runs,
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
