"""Alignment real-time factor per core, per backend.

RTF = CPU seconds spent aligning / seconds of audio, measured in this single process (one
core), so it reads directly as "x real time per core". Speech: the bundled LibriVox clips
and praatio's bobby/mary recordings. Target for pocketsphinx: <= 0.1. MFA is timed only
where a working ``mfa`` executable and its models are installed (one batch, one process).

    python benchmarks/bench_align.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from avprep.phonetics.aligner import AlignRequest, speech_seconds
from avprep.phonetics.mfa_aligner import MfaAligner, MfaUnavailable
from avprep.phonetics.pocketsphinx_aligner import PocketSphinxAligner

REPO = Path(__file__).resolve().parents[1]


def clips() -> list[tuple[str, np.ndarray, str]]:
    out = []
    for n in ("0880", "0890", "0930"):
        p = REPO / "avprep" / "data" / "speech" / f"librivox_ss01_{n}"
        a, _ = sf.read(f"{p}.wav", dtype="float32")
        out.append((n, a, Path(f"{p}.txt").read_text().strip()))
    for name, text in (("bobby", "bobby ripped the ledger"), ("mary", "mary rolled the barrel")):
        a, sr = sf.read(str(REPO / "tests" / "data" / "praatio" / f"{name}.wav"), dtype="float32")
        out.append((name, soxr.resample(a, sr, 16000).astype(np.float32), text))
    return out


def timed(fn) -> tuple[float, float]:
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.process_time() - c, time.perf_counter() - w


def bench_pocketsphinx(data, repeats: int) -> dict:
    al = PocketSphinxAligner()
    setup_cpu, _ = timed(al.setup)
    audio_s = sum(len(a) for _, a, _ in data) / 16000
    for _, a, t in data:  # warm-up (first-call allocations)
        al.align(a, t)
    cpu = wall = 0.0
    for _ in range(repeats):
        for _, a, t in data:
            c, w = timed(lambda a=a, t=t: al.align(a, t))
            cpu, wall = cpu + c, wall + w
    vad_cpu = 0.0
    for _, a, _ in data:
        vad_cpu += timed(lambda a=a: speech_seconds(a))[0]
    total = audio_s * repeats
    return {"rtf_cpu_per_core": round(cpu / total, 4), "rtf_wall": round(wall / total, 4),
            "speech_check_rtf": round(vad_cpu / audio_s, 4), "setup_cpu_s": round(setup_cpu, 3),
            "audio_s": round(total, 2), "clips": len(data) * repeats}  # fmt: skip


def bench_mfa(data) -> dict:
    al = MfaAligner()
    try:
        al.setup()
    except MfaUnavailable as e:
        return {"status": "unavailable", "reason": str(e).splitlines()[0]}
    reqs = [AlignRequest(n, a, t, "spk") for n, a, t in data]
    audio_s = sum(len(a) for _, a, _ in data) / 16000
    t0 = time.perf_counter()
    ch0 = os.times()
    res = al.align_many(reqs)
    ch1 = os.times()
    wall = time.perf_counter() - t0
    cpu = (ch1.children_user + ch1.children_system) - (ch0.children_user + ch0.children_system)
    ok = sum(not isinstance(r, Exception) for r in res)
    return {"status": "ok", "aligned": ok, "rtf_cpu_per_core": round(cpu / audio_s, 4),
            "rtf_wall": round(wall / audio_s, 4), "audio_s": round(audio_s, 2),
            "versions": al.versions()}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "align.json"))
    args = ap.parse_args()
    data = clips()
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "pocketsphinx": bench_pocketsphinx(data, args.repeats),
        "mfa": bench_mfa(data),
        "target_rtf_pocketsphinx": 0.1,
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
