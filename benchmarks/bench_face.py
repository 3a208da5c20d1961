"""Face-stage throughput (frames/s per core, detect/track split) and crop format sizes.

Clips: the astronaut photo animated (translate/rotate/scale) at 256x256 (LRW size, face
~115 px) and 640x360 (VoxCeleb size, face ~150 px), 29 frames (one LRW clip) repeated.
One core: cv2.setNumThreads(1), torch.set_num_threads(1); dlib is single-threaded.
Also measures the crop storage choice: per-frame JPEG members vs one MP4 per stream
(bytes per 29-frame clip including tar headers, and decode frames/s).

    python benchmarks/bench_face.py [--clips 6]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import sys
import tarfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avprep.clips import ClipRejected  # noqa: E402
from avprep.face import FaceConfig, FaceStage  # noqa: E402
from avprep.face.crop_codec import decode_stream  # noqa: E402
from avprep.face.known_motion import (  # noqa: E402
    ASTRONAUT_FACE,
    animate,
    astronaut,
    make_work,
    moving_astronaut,
)
from avprep.face.model_files import ModelFileMissing, find_fan_weights  # noqa: E402

N_FRAMES = 29


def clip(size: tuple[int, int]) -> np.ndarray:
    frames, _ = moving_astronaut(N_FRAMES, size=size)
    if size[0] > 300:  # VoxCeleb-like: bigger face in a wide frame
        w, h = size
        frames, _ = animate(
            astronaut(),
            ASTRONAUT_FACE,
            N_FRAMES,
            size,
            lambda t: (
                (w / 2 + 20 * np.sin(t / 5), h / 2),
                150 + 10 * np.sin(t / 7),
                5 * np.sin(t / 4),
            ),
        )
    return frames


def tar_bytes(files: dict[str, bytes], arrays_bytes: int = 0) -> int:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"clip.{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return len(buf.getvalue())


def bench_stage(backend: str, size: tuple[int, int], clips: int, fmt: str = "mp4") -> dict:
    cfg = FaceConfig(backend=backend, image_format=fmt, device="cpu")
    stage = FaceStage(cfg)
    stage.setup()
    frames = clip(size)
    tot = {"face": 0.0, "face_detect": 0.0, "face_track": 0.0, "face_fan": 0.0, "face_encode": 0}
    calls = {"detect_calls": 0, "track_calls": 0}
    work = None
    for _ in range(clips):
        work = make_work(frames)
        stage.process(work)
        for k in tot:
            tot[k] += work.timings[k]
        for k in calls:
            calls[k] += work.meta["face"][k]
    n = clips * N_FRAMES
    assert work is not None
    return {
        "backend": backend,
        "frame_size": f"{size[0]}x{size[1]}",
        "image_format": fmt,
        "frames": n,
        "fps_per_core": round(n / tot["face"], 1),
        "ms_per_frame": round(1000 * tot["face"] / n, 3),
        "ms_per_frame_detect": round(1000 * tot["face_detect"] / n, 3),
        "ms_per_frame_track": round(1000 * tot["face_track"] / n, 3),
        "ms_per_frame_fan": round(1000 * tot["face_fan"] / n, 3),
        "ms_per_frame_encode": round(1000 * tot["face_encode"] / n, 3),
        "ms_per_frame_other": round(
            1000
            * (
                tot["face"]
                - tot["face_detect"]
                - tot["face_track"]
                - tot["face_fan"]
                - tot["face_encode"]
            )
            / n,
            3,
        ),
        "detect_calls_per_frame": round(calls["detect_calls"] / n, 3),
        "landmark_calls_per_frame": round(calls["track_calls"] / n, 3),
        "good_frames": int(work.arrays["face_ok"].sum()),
    }


def bench_format(size: tuple[int, int]) -> list[dict]:
    out = []
    for fmt, q in (("jpg", 95), ("jpg", 90), ("mp4", 18), ("mp4", 23)):
        cfg = FaceConfig(
            image_format=fmt,
            jpeg_quality=q if fmt == "jpg" else 95,
            mp4_crf=q if fmt == "mp4" else 18,
        )
        stage = FaceStage(cfg)
        work = make_work(clip(size))
        stage.process(work)
        files = work.files
        per_stream = {}
        for s in ("crop256", "crop112", "mouth"):
            per_stream[s] = sum(len(v) for k, v in files.items() if k.startswith(s))
        reps = 5
        t0 = time.perf_counter()
        for _ in range(reps):
            decoded = {s: decode_stream(files, s) for s in ("crop256", "crop112", "mouth")}
        dt = (time.perf_counter() - t0) / reps
        t0 = time.perf_counter()
        for _ in range(reps):
            decode_stream(files, "crop256")
        dt256 = (time.perf_counter() - t0) / reps
        ref = FaceStage(FaceConfig(image_format="jpg", jpeg_quality=100))
        rw = make_work(clip(size))
        ref.process(rw)
        ref256 = decode_stream(rw.files, "crop256").astype(np.float64)
        mse = np.mean((decoded["crop256"].astype(np.float64) - ref256) ** 2)
        out.append(
            {
                "format": fmt,
                "quality": f"q{q}" if fmt == "jpg" else f"crf{q}",
                "members": len(files),
                "bytes_per_clip_tar": tar_bytes(files),
                "bytes_per_stream": per_stream,
                "decode_ms_per_clip_all_streams": round(1000 * dt, 2),
                "decode_frames_per_s_all_streams": round(3 * N_FRAMES / dt, 1),
                "decode_frames_per_s_crop256": round(N_FRAMES / dt256, 1),
                "psnr_crop256_vs_q100_db": round(10 * np.log10(255**2 / mse), 2) if mse else None,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=6)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    results: dict = {
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "clip_frames": N_FRAMES,
        "stage": [],
        "backends_unavailable": {},
    }
    backends = ["dlib"]
    try:
        find_fan_weights()
        backends.append("fan")
    except ModelFileMissing as e:
        results["backends_unavailable"]["fan"] = str(e)
    for backend in backends:
        for size in ((256, 256), (640, 360)):
            try:
                r = bench_stage(backend, size, args.clips)
            except ClipRejected as e:
                r = {"backend": backend, "frame_size": f"{size[0]}x{size[1]}", "rejected": str(e)}
            results["stage"].append(r)
            print(json.dumps(r))
    results["stage_jpg_256"] = bench_stage("dlib", (256, 256), args.clips, "jpg")
    print(json.dumps(results["stage_jpg_256"]))
    results["crop_formats_256"] = bench_format((256, 256))
    for r in results["crop_formats_256"]:
        print(json.dumps(r))
    out = ROOT / "benchmarks" / "results" / "face.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
