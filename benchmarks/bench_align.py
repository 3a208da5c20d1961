"""Alignment real-time factor per core, per backend, and the same for phone recognition
(the labels of clips without a transcript) with its accuracy against the forced alignments.

RTF = CPU seconds spent aligning / seconds of audio, measured in this single process (one
core), so it reads directly as "x real time per core". Speech: the bundled LibriVox clips
and praatio's bobby/mary recordings. Target for pocketsphinx: <= 0.1. MFA is timed only
where a working ``mfa`` executable and its models are installed (one batch, one process).

Recognition (``avprep.phonetics.recognizer``, both methods): RTF per core (target <= 0.2),
and per clip the phone error rate and the cosine similarity of the recognised phone
histogram to the true one. Truth: pocketsphinx's reference alignments in ``tests/data`` for
the LibriVox clips, the forced alignment of the known sentence for bobby and mary.

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
from avprep.phonetics.alignment import phone_histogram
from avprep.phonetics.mfa_aligner import MfaAligner, MfaUnavailable
from avprep.phonetics.phoneset import PHONES, SIL, normalize_phone
from avprep.phonetics.pocketsphinx_aligner import PocketSphinxAligner
from avprep.phonetics.recognizer import (
    RECOGNIZERS,
    PocketSphinxRecognizer,
    RecognizerConfig,
    histogram_cosine,
    phone_error_rate,
)

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


def true_phones(data) -> dict[str, list[str]]:
    al = PocketSphinxAligner()
    out = {}
    for name, a, text in data:
        ref = REPO / "tests" / "data" / f"pocketsphinx_ref_{name}.phone.json"
        if ref.exists():
            words = json.loads(ref.read_text())["w"]
            out[name] = [normalize_phone(p["t"]) for w in words for p in w["w"]]
        else:
            out[name] = [p.label for p in al.align(a, text).phones]
    return out


def bench_recognition(data, repeats: int) -> dict:
    truth = true_phones(data)
    audio_s = sum(len(a) for _, a, _ in data) / 16000
    out: dict = {}
    for method in RECOGNIZERS:
        rec = PocketSphinxRecognizer(RecognizerConfig(method=method))
        setup_cpu, _ = timed(rec.setup)
        clips = {}
        for name, a, _ in data:  # also the warm-up
            r = rec.recognize(a)
            hyp = [p.label for p in r.alignment.phones]
            true_hist = [sum(p == q for p in truth[name]) for q in PHONES]
            clips[name] = {
                "phone_error_rate": round(phone_error_rate(truth[name], hyp), 4),
                "hist_cosine": round(
                    histogram_cosine(phone_histogram(r.alignment.phones), true_hist), 4
                ),
                "confidence": r.confidence,
                "true_phones": sum(p != SIL for p in truth[name]),
                "hypothesis": r.hypothesis,
            }
        cpu = wall = 0.0
        for _ in range(repeats):
            for _, a, _ in data:
                c, w = timed(lambda a=a, rec=rec: rec.recognize(a))
                cpu, wall = cpu + c, wall + w
        total = audio_s * repeats
        out[method] = {
            "rtf_cpu_per_core": round(cpu / total, 4),
            "rtf_wall": round(wall / total, 4),
            "setup_cpu_s": round(setup_cpu, 3),
            "mean_phone_error_rate": round(
                float(np.mean([c["phone_error_rate"] for c in clips.values()])), 4
            ),
            "mean_hist_cosine": round(
                float(np.mean([c["hist_cosine"] for c in clips.values()])), 4
            ),
            "clips": clips,
        }
    out["default"] = "words"
    out["target_rtf"] = 0.2
    return out


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
        "recognition": bench_recognition(data, args.repeats),
        "target_rtf_pocketsphinx": 0.1,
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
