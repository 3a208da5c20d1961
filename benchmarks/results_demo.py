"""Demo-scale runs of every method through the public CLI, for the "Demo-scale runs
(plumbing, not comparable)" section of ``docs/results.md``.

    python benchmarks/results_demo.py [--work DIR] [--out benchmarks/results/results_demo.json]
        [--scale 1.0]

What it does, on CPU, one thread:

1. ``avprep build demo`` (all 24 clips, dlib faces, pocketsphinx visemes) with a split file
   that holds out two talking clips (``speaker1/clip02``, ``speaker2/clip00``, 132 frames
   each) as ``test``; every method trains on the ``train`` split only;
2. ``avprep train`` each method for a short run at reduced width (``RUNS``: CRAN ``cae`` at
   channel_divisor 8; DAVS ``joint`` at width 1/16 (256x256 crops); DVAE ``vae`` then ``gan``
   at lstm_hidden 32, ngf 8, no landmark loss, G every step at lr 1e-3);
3. ``avprep generate METHOD --video HELD_OUT --real-out REAL`` on each held-out clip (its
   own speech, its first frame as the identity; DAVS without the per-photo fine-tuning);
4. ``avprep eval quality`` and ``avprep eval lmd`` (dlib) of generated against real crops;
5. a do-nothing baseline at each crop size, measured the same way: the identity crop (the
   frame the generator animates) repeated under every generated frame.

6. DAVS only: ``avprep eval davs-features`` over the demo's LRW-style word clips of the
   ``train`` split (the only split with more than a couple of word clips; so these are
   in-sample figures, plumbing only), then ``avprep eval lipreading`` and ``eval retrieval``,
   beside chance (1 / number of words) in the same JSON. Steps scale with ``--scale``. Writes
the figures, settings, wall/CPU times, the date and the machine load to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HELD_OUT = ("speaker1/clip02", "speaker2/clip00")
COMMON = ["--device", "cpu", "--workers", "0", "--no-progress"]
QUIET = ["--set", "val_every=0", "--set", "sample_every=0", "--set", "log_every=25"]

# method -> training runs in order: (stage, steps, batch size, --set overrides, init from)
RUNS: dict[str, list[tuple[str, int, int, list[str]]]] = {
    "cran": [("cae", 800, 4, ["channel_divisor=8"])],
    "davs": [("joint", 80, 2, ["width=0.0625"])],
    "dvae": [
        ("vae", 300, 8, ["lstm_hidden=32"]),
        ("gan", 60, 2, ["lstm_hidden=32", "ngf=8", "ndf=8", "landmark_weight=0",
                        "d_video_channels=[4,8,16,32]", "seq_len=4", "n_critic=1",
                        "lr_gan=0.001"]),
    ],
}  # fmt: skip
# DVAE's gan stage at the paper's schedule (G every 5th step, Adam 1e-4) would give G 12
# updates in 60 steps: its output stays the random U-Net's noise (PSNR 11.7, no face found).
# With G every step at 1e-3, the same 60 steps give faces (measured: PSNR 22.1, SSIM 0.53,
# dlib finds a face in every generated frame, LMD 1.48 vs 1.41 for the identity crop).
GENERATE_EXTRA = {"davs": ["--no-finetune"]}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def avprep(*args: str, log: Path) -> str:
    """Run the CLI; its output goes to ``log``; fails loudly with the log's tail."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "avprep.cli", *args]
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd[2:]) + "\n")
        f.flush()
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=f, text=True)
        f.write(p.stdout)
    if p.returncode != 0:
        tail = "".join(log.read_text().splitlines(True)[-30:])
        raise RuntimeError(f"avprep {' '.join(args[:3])} failed ({p.returncode}):\n{tail}")
    return p.stdout


def build(work: Path, log: Path) -> Path:
    out = work / "demo"
    if (out / "build.json").exists():
        return out
    split = work / "splits.txt"
    split.write_text("".join(f"{c} test\n" for c in HELD_OUT))
    avprep("build", "demo", "--out", str(out), "--split-file", str(split), log=log)
    return out


def train(method: str, data: Path, work: Path, log: Path, scale: float) -> tuple[Path, list]:
    runs, previous = [], None
    for stage, steps, batch, sets in RUNS[method]:
        run = work / "runs" / f"{method}-{stage}"
        n = max(2, int(round(steps * scale)))
        extra = [a for s in sets for a in ("--set", s)]
        if method == "dvae" and stage == "gan":
            extra += ["--set", f"vae_checkpoint={previous}"]
        t0, c0 = time.time(), cpu_seconds()
        shutil.rmtree(run, ignore_errors=True)
        avprep(
            "train", method, "--data", str(data), "--stage", stage, "--steps", str(n),
            "--batch-size", str(batch), "--out", str(run), *COMMON, *QUIET, *extra, log=log,
        )  # fmt: skip
        logged = [json.loads(x) for x in (run / "scalars.jsonl").read_text().splitlines()]
        last = logged[-1] if logged else {}
        runs.append(
            {
                "stage": stage, "steps": n, "batch_size": batch, "set": sets,
                "wall_s": round(time.time() - t0, 1), "cpu_s": round(cpu_seconds() - c0, 1),
                "last_losses": {k: v for k, v in last.items() if k.startswith("loss")},
            }
        )  # fmt: skip
        previous = run
    return previous, runs


def generate(method: str, run: Path, corpus: Path, work: Path, log: Path) -> list[dict]:
    rows = []
    for clip in HELD_OUT:
        name = clip.replace("/", "_")
        out = json.loads(
            avprep(
                "generate", method, "--checkpoint", str(run), "--video",
                str(corpus / f"{clip}.mp4"), "--out", str(work / "gen" / method / f"{name}.mp4"),
                "--real-out", str(work / "real" / method / f"{name}.mp4"), "--device", "cpu",
                *GENERATE_EXTRA.get(method, []), log=log,
            ).strip().splitlines()[-1]
        )  # fmt: skip
        rows.append({"clip": clip, **{k: out[k] for k in ("frames", "first_frame", "size")}})
    return rows


def identity_baseline(method: str, size: int, corpus: Path, work: Path) -> None:
    """The do-nothing generator: the crop the method animates (the clip's first frame with a
    face, cut as ``avprep generate`` cuts it), repeated under every frame it generated."""
    import av

    from models.generate import GENERATORS, face_crop, reference_face, video_track, write_video

    template = GENERATORS[method].template  # type: ignore[attr-defined]
    for clip in HELD_OUT:
        name = clip.replace("/", "_")
        track = video_track(str(corpus / f"{clip}.mp4"), size, template=template, need_audio=False)
        crop = face_crop(reference_face(track, None), size)
        with av.open(str(work / "gen" / method / f"{name}.mp4")) as c:
            n = sum(1 for _ in c.decode(video=0))
        out = work / "gen" / f"identity-{method}" / f"{name}.mp4"
        write_video(str(out), (crop for _ in range(n)), None)


def evaluate(gen: Path, real: Path, work: Path, log: Path) -> dict:
    out = {}
    for measure in ("quality", "lmd"):
        path = work / "eval" / f"{gen.name}-{measure}.json"
        extra = ["--device", "cpu"] if measure == "lmd" else []
        avprep("eval", measure, str(real), str(gen), "--json", str(path), "--no-progress",
               *extra, log=log)  # fmt: skip
        res = json.loads(path.read_text())
        out[measure] = {"summary": res["summary"], "clips": res["clips"], "skipped": res["skipped"]}
    return out


def davs_recognition(run: Path, data: Path, work: Path, log: Path) -> dict:
    """Lip reading and retrieval of the DAVS run over the build's word clips (train split)."""
    feats = work / "davs-features"
    avprep("eval", "davs-features", "--checkpoint", str(run), "--data", str(data), "--split",
           "train", "--out", str(feats), "--device", "cpu", "--no-progress", log=log)  # fmt: skip
    out: dict = {}
    for measure, npz in (("lipreading", "logits.npz"), ("retrieval", "embeddings.npz")):
        path = work / "eval" / f"davs-{measure}.json"
        extra = ["--device", "cpu"] if measure == "retrieval" else []
        avprep("eval", measure, str(feats / npz), "--json", str(path), *extra, log=log)
        out[measure] = json.loads(path.read_text())["summary"]
    import numpy as np

    labels = np.load(feats / "logits.npz")["labels"]
    out["clips"] = int(len(labels))
    out["chance"] = round(1.0 / len(set(labels.tolist())), 4)
    return out


def _num(v, fmt: str) -> str:
    return format(v, fmt) if isinstance(v, int | float) else str(v)


def render(result: dict) -> str:
    """The docs/results.md table of a results JSON (so the doc's figures are the JSON's)."""
    lines = [
        "| method (stage: steps x batch, set) | crop | generated | PSNR | SSIM | LMD (dlib) "
        "| frames left out of LMD (no face found) | train wall / CPU s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, e in result["methods"].items():
        if "error" in e:
            lines.append(f"| {method} | | failed: {e['error'][:80]} | | | | | |")
            continue
        stages = "; ".join(
            f"{t['stage']}: {t['steps']} x {t['batch_size']}, {', '.join(t['set'])}"
            for t in e["training"]
        )
        wall = sum(t["wall_s"] for t in e["training"])
        cpu = sum(t["cpu_s"] for t in e["training"])
        for label, ev in (
            (f"{method} ({stages})", e["eval"]),
            (f"identity repeated ({method}'s crop)", e["identity_baseline"]),
        ):
            q, lm = ev["quality"]["summary"], ev["lmd"]["summary"]
            frames = sum(c["frames"] for c in ev["lmd"]["clips"])
            lines.append(
                f"| {label} | {e['crop']} | {q['clips']} clips, {frames} frames "
                f"| {_num(q['psnr'], '.2f')} | {_num(q['ssim'], '.3f')} "
                f"| {_num(lm['lmd'], '.2f')} | {lm['frames_missing']} of {frames} "
                f"| {f'{wall:.0f} / {cpu:.0f}' if label.startswith(method) else '-'} |"
            )  # fmt: skip
    rec = result["methods"].get("davs", {}).get("recognition")
    if rec:
        lr, rt = rec["lipreading"], rec["retrieval"]
        pct = {k: 100 * lr[f"{k}_acc"] for k in ("visual", "audio", "combined")}
        lines += [
            "",
            f"DAVS lip reading and retrieval over the build's {rec['clips']} word clips of the "
            f"train split (in-sample; chance {100 * rec['chance']:.1f} %):",
            "",
            "| visual acc. | audio acc. | combined acc. | V->A R@1 | R@10 | Med R "
            "| A->V R@1 | R@10 | Med R |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {pct['visual']:.1f} % | {pct['audio']:.1f} % | {pct['combined']:.1f} % "
            f"| {rt['v2a_r1']:.1f} | {rt['v2a_r10']:.1f} | {rt['v2a_medr']:.1f} "
            f"| {rt['a2v_r1']:.1f} | {rt['a2v_r10']:.1f} | {rt['a2v_medr']:.1f} |",
        ]
    m = result["machine"]
    lines += [
        "",
        f"Measured {result['date_utc']} on {m['cpus']} CPUs (OMP_NUM_THREADS=1, torch "
        f"{m['torch']}), 1-minute load average {m['loadavg_1m_start']} at the start and "
        f"{m['loadavg_1m_end']} at the end (the machine was shared); whole script "
        f"{result['total_wall_s']:.0f} s wall, {result['total_cpu_s_children']:.0f} s CPU.",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default="/tmp/avprep-results-demo")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "results_demo.json"))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every step count")
    ap.add_argument("--methods", default="cran,davs,dvae")
    ap.add_argument("--render", metavar="JSON", help="only print the markdown table of JSON")
    args = ap.parse_args()
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AVPREP_HOME", str(work / "home"))
    log = work / "log.txt"
    started = dt.datetime.now(dt.UTC)
    t0, load0 = time.time(), os.getloadavg()

    data = build(work, log)
    corpus = Path(os.environ["AVPREP_HOME"]) / "_corpora" / "demo"
    info = json.loads((data / "build.json").read_text())
    result: dict = {
        "what": "demo-scale runs: plumbing, not comparable with the papers",
        "date_utc": started.isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "omp_threads": 1,
            "loadavg_1m_start": round(load0[0], 2),
        },  # fmt: skip
        "build": {
            "clips_ok": info.get("counts", {}).get("ok", info.get("counts")),
            "held_out_test": list(HELD_OUT),
            "wall_s": round(time.time() - t0, 1),
        },  # fmt: skip
        "methods": {},
    }
    import torch

    result["machine"]["torch"] = torch.__version__
    for method in args.methods.split(","):
        entry: dict = {}
        result["methods"][method] = entry
        try:
            run, entry["training"] = train(method, data, work, log, args.scale)
            entry["generated"] = generate(method, run, corpus, work, log)
            size = entry["generated"][0]["size"][0]
            entry["crop"] = size
            entry["eval"] = evaluate(work / "gen" / method, work / "real" / method, work, log)
            identity_baseline(method, size, corpus, work)
            entry["identity_baseline"] = evaluate(
                work / "gen" / f"identity-{method}", work / "real" / method, work, log
            )
            if method == "davs":
                entry["recognition"] = davs_recognition(run, data, work, log)
        except Exception as e:  # one method's failure is recorded, the others still run
            entry["error"] = f"{type(e).__name__}: {e}"
        print(method, json.dumps({k: v for k, v in entry.items() if k != "training"})[:400])

    load1 = os.getloadavg()
    result["machine"]["loadavg_1m_end"] = round(load1[0], 2)
    result["total_wall_s"] = round(time.time() - t0, 1)
    result["total_cpu_s_children"] = round(cpu_seconds(), 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} in {result['total_wall_s']} s")


if __name__ == "__main__":
    main()
