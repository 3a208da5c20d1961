"""Benchmark: ``avprep report`` on a build whose manifest has 500,000 clips.

A real build of the demo corpus's six talking clips (or ``--build DIR``) supplies the shards;
its manifest is replaced by a synthetic one of ``--clips`` rows (1,251 speakers, three splits,
~6% rejected over six reasons, durations, good runs, phone histograms, label confidence) whose
written rows point at the real shards and keys. The report then runs in a fresh child process
pinned to one thread, so its wall time and peak RSS are its own: the manifest is summarised
whole, and only the shards of the ``--samples`` drawn clips are read.
Prints the figures and saves them to benchmarks/results/report.json.

    python benchmarks/bench_report.py [--clips 500000] [--samples 12] [--build DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "report.json"
ONE_THREAD = {v: "1" for v in (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
)}  # fmt: skip
REASONS = ("no_face", "too_short", "corrupt_media", "extreme_pose", "no_audio", "too_long")


def demo_build(base: Path) -> Path:
    """The demo corpus's six talking clips through the real pipeline (no report)."""
    from avprep.config import BuildConfig
    from avprep.datasets.demo_media import make_demo_corpus
    from pipelines.build import run_build

    out = base / "demo_build"
    run_build(
        BuildConfig(
            dataset="demo", root=str(make_demo_corpus(base / "demo_corpus")), out=str(out),
            noise_levels_db=(-30.0,), shard_size=2, discover_options={"parts": "talking"},
        ),
        report=False,
    )  # fmt: skip
    return out


def write_manifest(build: Path, out: Path, n_clips: int, seed: int = 0) -> float:
    """``out/manifest.parquet``: ``n_clips`` synthetic rows over ``build``'s real samples."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from avprep.schema import MANIFEST_SCHEMA

    t0 = time.perf_counter()
    real = pq.read_table(build / "manifest.parquet").to_pylist()
    real = [r for r in real if r["status"] == "ok"]
    rng = np.random.default_rng(seed)
    i = np.arange(n_clips)
    rejected = rng.random(n_clips) < 0.06
    src = i % len(real)
    duration = np.round(np.clip(rng.gamma(4.0, 1.6, n_clips), 0.3, 60.0), 2)
    n_frames = np.round(duration * 25).astype(np.int32)
    run = np.minimum(n_frames, np.round(n_frames * rng.beta(8, 1, n_clips))).astype(np.int32)
    base = 1.0 / np.arange(1, 40) ** 1.3
    rng.shuffle(base)
    hists = rng.poisson(duration[:, None] * 9 * base / base.sum()).astype(np.int32)
    recognized = rng.random(n_clips) < 0.1
    shards = [None if rj else real[s]["shard"] for s, rj in zip(src, rejected, strict=True)]
    columns = {
        "key": pa.array([real[s]["key"] for s in src]),
        "dataset": pa.array(["synthetic"] * n_clips),
        "split": pa.array(np.select([i % 20 == 0, i % 20 == 1], ["test", "val"], "train")),
        "kind": pa.array(["clip"] * n_clips),
        "status": pa.array(np.where(rejected, "rejected", "ok")),
        "reason": pa.array(np.where(rejected, np.array(REASONS)[i % len(REASONS)], None)),
        "shard": pa.array(shards),
        "source": pa.array([f"id{s % 1251:05d}/{s:08d}.mp4" for s in i]),
        "speaker": pa.array([f"id{s % 1251:05d}" for s in i]),
        "n_frames": pa.array(n_frames),
        "duration": pa.array(duration),
        "good_run_length": pa.array(run, mask=rejected),
        "phone_hist": pa.ListArray.from_arrays(
            pa.array(np.arange(0, 39 * n_clips + 1, 39, dtype=np.int32)),
            pa.array(hists.reshape(-1)), mask=pa.array(rejected),
        ),
        "label_source": pa.array(np.where(rejected, None,
                                          np.where(recognized, "recognized", "transcript"))),
        "label_confidence": pa.array(np.where(recognized, rng.beta(5, 2, n_clips), 1.0),
                                     mask=rejected),
    }  # fmt: skip
    names = [n for n in MANIFEST_SCHEMA.names if n in columns]
    table = pa.table({n: columns[n] for n in names})
    table = table.cast(pa.schema([MANIFEST_SCHEMA.field(n) for n in names]))
    assert pc.sum(pc.equal(table["status"], "ok")).as_py() == int((~rejected).sum())
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "manifest.parquet", row_group_size=128 * 1024)
    info = json.loads((build / "build.json").read_text())
    info["counts"]["discovered"] = n_clips
    (out / "build.json").write_text(json.dumps(info))
    os.symlink(build / "shards", out / "shards")
    return time.perf_counter() - t0


def child(build: str, samples: int) -> None:
    """Runs in the measured process."""
    import resource

    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    t0 = time.perf_counter()
    from avprep.report import write_report

    t_import = time.perf_counter() - t0
    r = write_report(build, samples=samples)
    figures = {
        "import_s": t_import,
        "report_s": r.seconds,
        "manifest_s": r.manifest_seconds,
        "shards_read": r.shards_read,
        "samples_read": r.samples_read,
        "errors": len(r.errors),
        "html_mib": Path(r.path).stat().st_size / 2**20,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(figures))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=500_000)
    ap.add_argument("--samples", type=int, default=12)
    ap.add_argument("--build", help="An existing build to take shards from (default: demo).")
    ap.add_argument("--child", metavar="BUILD", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.samples)
        return
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(args.build) if args.build else demo_build(Path(tmp))
        bench = Path(tmp) / "bench_build"
        gen_s = write_manifest(src, bench, args.clips)
        size_mib = (bench / "manifest.parquet").stat().st_size / 2**20
        print(f"synthetic manifest: {args.clips} clips, {size_mib:.1f} MiB, {gen_s:.1f} s")
        env = {
            **os.environ,
            **ONE_THREAD,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--samples", str(args.samples), "--child", str(bench)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        total_s = time.perf_counter() - t0
        sys.stderr.write(proc.stderr)
        if proc.returncode:
            raise SystemExit(proc.returncode)
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
        shutil.rmtree(bench, ignore_errors=True)
    result = {
        "benchmark": "avprep report over a synthetic manifest, shards of a real demo build",
        "clips": args.clips,
        "samples": args.samples,
        "manifest_mib": round(size_mib, 1),
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()},
        "process_wall_s": round(total_s, 2),
        "threads": 1,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version()},  # fmt: skip
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
