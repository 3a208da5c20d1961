"""Training throughput per registered method: steps/s, clips/s and the fraction of step time
spent waiting for data, through the real training loop (``models.training.train``).

Every method in the registry (``models.methods.METHODS``; methods appear here as they
register) is trained for ``--steps`` steps at its default (full-size) config on one build,
each stage whose build check passes on that build (the others are listed as skipped, with
the reason). Figures come from the loop's own per-step log (``log_every=1``; on CUDA the loop
synchronises at log steps), after ``--warmup`` steps. The data wait is the time the loop
spends in ``next(batch)``: near 0 means the loader keeps up, near 1 means the trainer starves.

    python benchmarks/bench_train.py [--data BUILD] [--device auto] [--batch-size N]
        [--workers N] [--steps 6] [--warmup 2] [--register MODULE[:FN]] [--set KEY=VALUE]
        [--vgg-face-weights vgg_face_dag.pth]

Defaults: CPU: batch 2, 2 workers (this machine has 2 cores); CUDA: the method's batch
size, 8 workers. Without ``--data`` the bundled demo corpus is built under ``--work``.
``--register MODULE[:FUNCTION]`` imports a module (and calls FUNCTION) that registers more
methods, e.g. ``--register tests.models.training.tiny_method:register_tiny``, the test
method, to measure the core and the loader alone.
``--vgg-face-weights`` turns on the VGG-Face perceptual loss in every method whose config has
one (CRAN's stages, DVAE's gan stage; ``models.training.perceptual``). Writes
``benchmarks/results/train.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # models, pipelines (and tests.*, for --register) from this tree

from models import methods  # noqa: E402
from models.training.builds import check_builds  # noqa: E402
from models.training.config import resolve_config  # noqa: E402
from models.training.logs import SCALARS_FILE  # noqa: E402
from models.training.loop import train  # noqa: E402

# Stages that read earlier stages' checkpoints: method config field -> the earlier stage whose
# run (trained just before in this benchmark) it points at.
STAGE_INPUTS: dict[tuple[str, str], dict[str, str]] = {
    ("dvae", "gan"): {"vae_checkpoint": "vae", "landmark_checkpoint": "landmarks"},
}


def demo_build(work: Path) -> Path:
    from avprep.config import BuildConfig
    from avprep.datasets.demo_media import make_demo_corpus
    from pipelines.build import run_build

    out = work / "demo_build"
    if (out / "build.json").exists():
        return out
    root = make_demo_corpus(work / "demo_corpus")
    run_build(
        BuildConfig(
            dataset="demo", root=str(root), out=str(out), face_backend="dlib",
            features=("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"),
            noise_levels_db=(-60.0, -30.0, -10.0), aligner="pocketsphinx", shard_size=2,
        )
    )  # fmt: skip
    return out


def figures(run_dir: Path, warmup: int, clips_per_step: int) -> dict:
    """Per-step figures after the warm-up (the loop logs every step here). A step's batch can
    be smaller than the configured one (an epoch's last, partial batch: small builds, many
    workers), so its items come from the log's ``perf/samples`` where present."""
    rows = [json.loads(x) for x in (run_dir / SCALARS_FILE).read_text().splitlines()]
    rows = [r for r in rows if "perf/samples_per_s" in r][warmup:]
    if not rows:
        raise RuntimeError("no steps after the warm-up: raise --steps")
    items = [float(r.get("perf/samples", clips_per_step)) for r in rows]
    busy = [n / r["perf/samples_per_s"] for n, r in zip(items, rows, strict=True)]
    wait = [f * b for f, b in zip((r["perf/data_wait_fraction"] for r in rows), busy, strict=True)]
    step_s = sum(busy) / len(busy)
    return {
        "steps_timed": len(rows),
        "steps_per_s": round(1.0 / step_s, 4),
        "clips_per_s": round(sum(items) / sum(busy), 3),
        "mean_clips_per_step": round(sum(items) / len(items), 2),
        "data_wait_fraction": round(sum(wait) / sum(busy), 4),
        "step_seconds": round(step_s, 4),
        "compute_seconds_per_step": round((sum(busy) - sum(wait)) / len(busy), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", help="build folder(s); default: demo build")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "avprep-bench-train"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument(
        "--register", action="append", default=[], help="MODULE[:FUNCTION] registering methods"
    )
    ap.add_argument("--method", action="append", help="only these methods")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--note", default="", help="a sentence saved with the figures")
    ap.add_argument(
        "--vgg-face-weights",
        help="the public vgg_face_dag.pth: add the perceptual loss where a method has one",
    )
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "train.json"))
    args = ap.parse_args()
    for target in args.register:
        module, _, function = target.partition(":")
        mod = importlib.import_module(module)
        if function:
            getattr(mod, function)()
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    workers = args.workers if args.workers is not None else (8 if cuda else 2)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = tuple(args.data) if args.data else (str(demo_build(work)),)
    results, skipped = [], []
    runs: dict[tuple[str, str], str] = {}  # (method, stage) -> its run folder, for later stages
    runs_root = Path(tempfile.mkdtemp(prefix="runs-", dir=work))

    def write_report() -> None:
        """Rewritten after every stage, so a run stopped by a time limit keeps its rows."""
        device = torch.cuda.get_device_name() if cuda else platform.processor() or "cpu"
        report = {
            "note": args.note,
            "device": device,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "data": [str(d) for d in data],
            "steps": args.steps,
            "warmup": args.warmup,
            "registered": sorted(methods.METHODS),
            "vgg_face_weights": args.vgg_face_weights,
            "results": results,
            "skipped": skipped,
        }
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")

    names = args.method or sorted(methods.METHODS)
    for name in names:
        spec = methods.method(name)
        fields = {f.name for f in dataclasses.fields(methods.load(spec.config))}
        perceptual = bool(args.vgg_face_weights) and {"perceptual", "vgg_face_weights"} <= fields
        for stage in spec.stages:
            problems = check_builds(name, stage, data, ("train",))
            if problems:
                skipped.append({"method": name, "stage": stage, "why": problems})
                print(f"{name}/{stage}: skipped ({problems[0]})")
                write_report()
                continue
            sets = list(args.sets)
            if perceptual:
                sets += [
                    "method.perceptual=true",
                    f"method.vgg_face_weights={args.vgg_face_weights}",
                ]
            needs = STAGE_INPUTS.get((name, stage), {})
            missing = [earlier for earlier in needs.values() if (name, earlier) not in runs]
            if missing:
                why = [f"needs the {', '.join(missing)} stage(s) run first in this benchmark"]
                skipped.append({"method": name, "stage": stage, "why": why})
                print(f"{name}/{stage}: skipped ({why[0]})")
                write_report()
                continue
            sets += [f"method.{key}={runs[(name, earlier)]}" for key, earlier in needs.items()]
            if args.batch_size or not cuda:
                sets.append(f"method.batch_size={args.batch_size or 2}")
            run = resolve_config(
                name, stage=stage, sets=sets,
                train_values={
                    "data": data, "steps": args.steps, "device": args.device,
                    "num_workers": workers, "progress": False, "log_every": 1,
                    "sample_every": 0, "val_every": 0, "checkpoint_every": 0,
                },
            )  # fmt: skip
            run_dir = runs_root / f"{name}-{stage}"
            t0 = time.perf_counter()
            try:
                train(run, run_dir)
            except Exception as e:  # a benchmark reports a stage that cannot run, and goes on
                traceback.print_exc()
                skipped.append({"method": name, "stage": stage, "why": [str(e)]})
                print(f"{name}/{stage}: skipped ({e})")
                write_report()
                continue
            wall = time.perf_counter() - t0
            runs[(name, stage)] = str(run_dir)
            batch = int(run.method_config.batch_size)
            row = {
                "method": name, "stage": stage, "batch_size": batch, "num_workers": workers,
                **figures(run_dir, args.warmup, batch),
                "wall_seconds_with_setup": round(wall, 2),
            }  # fmt: skip
            results.append(row)
            print(
                f"{name}/{stage}: {row['steps_per_s']} steps/s, {row['clips_per_s']} clips/s, "
                f"data wait {100 * row['data_wait_fraction']:.1f}% (batch {batch}, "
                f"{workers} workers)"
            )
            write_report()
    write_report()
    shutil.rmtree(runs_root, ignore_errors=True)  # full-size checkpoints are large
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
