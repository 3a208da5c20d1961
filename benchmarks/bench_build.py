"""Benchmark `avprep build` on the demo corpus: clips/s end to end, time per stage per clip,
peak memory. Prints a table and saves benchmarks/results/build.json.

    python benchmarks/bench_build.py [--clips 24] [--workers 1 2]

Per-stage times come from running the same ClipProcessor the Beam DoFn runs, in this
process (so stages can be timed one by one); clips/s comes from full Beam builds.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2

from avprep.clip_processor import ClipProcessor
from avprep.config import BuildConfig
from avprep.datasets import DiscoverOptions, get_adapter
from avprep.datasets.demo_media import make_demo_corpus
from pipelines.build import run_build

FULL = dict(
    face_backend="dlib",
    features=("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"),
    aligner="pocketsphinx",
)


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def stage_times(root: Path, out: Path) -> dict:
    cv2.setNumThreads(1)
    config = BuildConfig(dataset="folder", root=str(root), out=str(out), **FULL)
    processor = ClipProcessor(config)
    processor.setup()
    refs = list(get_adapter("folder").iter_clips(str(root), DiscoverOptions()))
    per_stage: dict[str, list[float]] = defaultdict(list)
    audio_s = 0.0
    for ref in refs:
        row, fields = processor.process(ref)
        assert fields is not None, row
        audio_s += row["duration"]
        for stage, t in processor.last_timings.items():
            per_stage[stage].append(t)
    # "face_detect", "face_track" ... are the face stage's own breakdown of "face"
    top = [k for k in per_stage if k in ("decode", "encode") or "_" not in k or k in
           ("audio_features",)]
    total = sum(sum(per_stage[k]) for k in top)
    return {
        "clips": len(refs),
        "media_seconds": round(audio_s, 2),
        "ms_per_clip": {k: round(1000 * statistics.mean(v), 1) for k, v in per_stage.items()},
        "ms_per_media_second": {k: round(1000 * sum(v) / audio_s, 1)
                                for k, v in per_stage.items()},
        "seconds_per_media_second": round(total / audio_s, 4),
        "times_real_time": round(audio_s / total, 2),
    }


def pipeline_rate(root: Path, out: Path, workers: int) -> dict:
    config = BuildConfig(dataset="folder", root=str(root), out=str(out), shard_size=4, **FULL)
    start = time.perf_counter()
    result = run_build(config, workers=workers)
    seconds = time.perf_counter() - start
    n = result.info["counts"]["ok"]
    return {"workers": workers, "clips": n, "seconds": round(seconds, 2),
            "clips_per_s": round(n / seconds, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "build.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_demo_corpus(Path(tmp) / "corpus", n_clips=args.clips)
        stages = stage_times(root, Path(tmp) / "stages")
        runs = [pipeline_rate(root, Path(tmp) / f"out{w}", w) for w in args.workers]
    result = {
        "benchmark": "avprep build (demo clips, full stages: dlib face, 4 feature tracks, "
        "pocketsphinx)",
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores",
        "per_stage_one_core": stages,
        "pipeline": runs,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
