"""Benchmark: audio-feature extraction speed, times real time per core.

The bundled LibriVox clips (``avprep/data/speech/``, real read speech) are tiled to at least
``--minutes`` of audio as separate clips (the unit the build processes). For each feature
config it times the numpy path (:func:`avprep.features.tracks.compute_track`, one clip at a
time) and the torch path (:class:`models.audio_features.AudioFeatureExtractor` on CPU, one
clip at a time and batched by clip length), single-threaded (BLAS/OpenMP env vars and
``torch.set_num_threads(1)``), best of ``--repeats`` runs. It also times the whole
:class:`~avprep.features.stage.AudioFeatureStage` (all four tracks, and with DVAE's three
noise levels). Prints the figures and saves them to ``benchmarks/results/features.json``.

    python benchmarks/bench_features.py [--minutes 10] [--repeats 3]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one core

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib.resources import files  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avprep.clips import ClipRef, ClipWork, DecodedMedia  # noqa: E402
from avprep.features.config import FEATURE_CONFIGS  # noqa: E402
from avprep.features.stage import DEFAULT_FEATURES, AudioFeatureStage  # noqa: E402
from avprep.features.tracks import compute_track  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "features.json"
SR = 16000
TARGET_X = 300.0


def speech_clips(minutes: float) -> list[np.ndarray]:
    """The bundled clips, each cut to whole 25-fps frames, repeated to >= ``minutes``."""
    folder = files("avprep") / "data" / "speech"
    base = []
    for name in sorted(p.name for p in folder.iterdir() if p.name.endswith(".wav")):
        audio, sr = sf.read(str(folder / name), dtype="float32")
        assert sr == SR
        base.append(audio[: len(audio) // 640 * 640])
    clips: list[np.ndarray] = []
    while sum(len(c) for c in clips) < minutes * 60 * SR:
        clips.extend(base)
    return clips


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_numpy(clips, config, repeats) -> float:
    compute_track(clips[0], config)  # warm-up (librosa's lazy imports, cached filterbanks)
    return best_of(repeats, lambda: [compute_track(c, config) for c in clips])


def bench_torch(clips, config, repeats) -> tuple[float, float, int]:
    import torch

    from models.audio_features import AudioFeatureExtractor

    module = AudioFeatureExtractor(config)
    tensors = [torch.from_numpy(c) for c in clips]
    by_len: dict[int, list[np.ndarray]] = {}
    for c in clips:
        by_len.setdefault(len(c), []).append(c)
    batches = [torch.from_numpy(np.stack(v)) for v in by_len.values()]

    def per_clip():
        with torch.inference_mode():
            for t in tensors:
                module(t)

    def batched():
        with torch.inference_mode():
            for b in batches:
                module(b)

    per_clip()  # warm-up (allocator, FFT plans)
    batch = max(len(v) for v in by_len.values())
    return best_of(repeats, per_clip), best_of(repeats, batched), batch


def bench_stage(clips, noise_levels, repeats) -> float:
    stage = AudioFeatureStage(features=DEFAULT_FEATURES, noise_levels_db=noise_levels)
    stage.setup()
    works = []
    for i, c in enumerate(clips):
        n = len(c) // 640
        media = DecodedMedia(np.zeros((n, 1, 1, 3), np.uint8), np.arange(n) / 25.0, c, 25.0,
                             SR, 25.0, (1, 1), 0.0)
        works.append(ClipWork(ClipRef(f"bench/{i}", "bench", "train", "x"), media))
    return best_of(repeats, lambda: [stage.process(w) for w in works])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()

    clips = speech_clips(args.minutes)
    seconds = sum(len(c) for c in clips) / SR
    print(f"{len(clips)} clips, {seconds:.1f} s of real speech, 1 thread, best of {args.repeats}")
    result: dict = {
        "benchmark": "audio feature extraction, times real time per core",
        "audio_seconds": round(seconds, 2),
        "clips": len(clips),
        "threads": 1,
        "repeats": args.repeats,
        "target_x_realtime": TARGET_X,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "configs": {},
    }
    have_torch = False
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(1)
            result["torch"] = torch.__version__
            have_torch = True
        except ImportError:
            print("torch not installed: numpy path only")

    for name, config in FEATURE_CONFIGS.items():
        if name not in DEFAULT_FEATURES:
            continue
        entry: dict = {}
        t = bench_numpy(clips, config, args.repeats)
        entry["numpy_s"] = round(t, 3)
        entry["numpy_x_realtime"] = round(seconds / t, 1)
        line = f"{name:14s} numpy {seconds / t:8.0f}x"
        if have_torch:
            t_clip, t_batch, batch = bench_torch(clips, config, args.repeats)
            entry.update(
                torch_per_clip_s=round(t_clip, 3),
                torch_per_clip_x_realtime=round(seconds / t_clip, 1),
                torch_batched_s=round(t_batch, 3),
                torch_batched_x_realtime=round(seconds / t_batch, 1),
                torch_batch_size=batch,
            )
            line += f"   torch/clip {seconds / t_clip:8.0f}x   torch/batch{batch} "
            line += f"{seconds / t_batch:8.0f}x"
        result["configs"][name] = entry
        print(line)

    for label, levels in (("stage_4_tracks", ()), ("stage_4_tracks_3_noise", (-60, -30, -10))):
        t = bench_stage(clips, levels, max(1, args.repeats - 1))
        result[label] = {"s": round(t, 3), "x_realtime": round(seconds / t, 1)}
        print(f"{label:24s} {seconds / t:8.0f}x real time (whole stage, numpy)")

    xs = [v for e in result["configs"].values() for k, v in e.items() if k.endswith("x_realtime")]
    result["all_paths_meet_target"] = bool(min(xs) >= TARGET_X)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"min over configs/paths: {min(xs):.0f}x (target {TARGET_X:.0f}x) -> {RESULTS}")


if __name__ == "__main__":
    main()
