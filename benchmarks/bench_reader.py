"""Reader throughput per core, per view, from local shards, decode included.

Builds (once, under ``--work``) an LRW-like shard set from the demo corpus's word clips
(its ``words`` part: LRW layout, 29-frame clips, 256x256 crops, MP4 and JPEG crop formats)
and the whole demo corpus (longer clips, all tracks, -30 dB noise), replicates the built
samples under new keys so a run reads ``--clips`` samples, then times each view through the
same code path a DataLoader worker runs (``avprep.reader.stream`` +
``models.data.collate_items``) on one thread: ``torch.set_num_threads(1)``,
``cv2.setNumThreads(1)``. Prints figures and writes ``benchmarks/results/reader.json``.

    python benchmarks/bench_reader.py [--clips 120] [--work /tmp/avprep-bench-reader]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avprep.config import BuildConfig  # noqa: E402
from avprep.reader import (  # noqa: E402
    SampleFilter,
    StreamConfig,
    reader_slot,
    resolve_shards,
)
from avprep.reader.stream import iter_slot_samples, view_items  # noqa: E402
from avprep.shards import ShardWriter, iter_shard  # noqa: E402
from models.cran.view import CranConfig  # noqa: E402
from models.data import make_view  # noqa: E402  (view names resolve through models.methods)
from models.data.collate import collate_items  # noqa: E402
from models.dvae.view import DvaeConfig  # noqa: E402

FEATURES = ("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae")


def build(work: Path, name: str, crop_format: str, parts: str | None = None) -> Path:
    """The demo corpus (written once to ``work/demo_root``) built into ``work/name``, only
    ``parts`` (e.g. ``words``) if given."""
    from pipelines.build import run_build

    out = work / name
    if (out / "build.json").exists():
        return out
    run_build(
        BuildConfig(
            dataset="demo",
            root=str(work / "demo_root"),
            out=str(out),
            face_backend="dlib",
            face_options={"image_format": crop_format},
            features=FEATURES,
            noise_levels_db=(-30.0,),
            aligner="pocketsphinx",
            shard_size=8,
            discover_options={"parts": parts} if parts else {},
        )
    )
    return out


def replicate(build_dir: Path, out: Path, n_clips: int, per_shard: int = 32) -> list[str]:
    """The build's samples repeated under new keys (byte-identical members otherwise)."""
    samples = []
    for url in resolve_shards(build_dir):
        with open(url, "rb") as f:
            samples += list(iter_shard(f))
    out.mkdir(parents=True, exist_ok=True)
    paths, i = [], 0
    while i < n_clips:
        path = out / f"train-{len(paths):06d}.tar"
        with open(path, "wb") as f, ShardWriter(f) as w:
            for _ in range(min(per_shard, n_clips - i)):
                key, fields = samples[i % len(samples)]
                new = f"r{i:05d}_{key}"
                meta = json.loads(fields["json"])
                meta["key"] = new
                w.add(new, {**fields, "json": json.dumps(meta).encode()})
                i += 1
        paths.append(str(path))
    return paths


def time_view(shards: list[str], view, batch_size: int, item: str) -> dict:
    slot = reader_slot(shards, 0, 1, 0, 1)
    cfg = StreamConfig(seed=0, shuffle_buffer=16)
    t = time.perf_counter()
    n_items, batch = 0, []
    samples = 0
    last_resume = 0
    samples_in = SampleFilter().apply(iter_slot_samples(slot))
    for it in view_items(samples_in, slot.reader, view, cfg):
        batch.append(it)
        last_resume = it["__resume__"]
        if len(batch) == batch_size:
            collate_items(batch)
            n_items += len(batch)
            batch = []
    if batch:
        collate_items(batch)
        n_items += len(batch)
    samples = last_resume
    dt = time.perf_counter() - t
    return {
        "view": view.name,
        "items": n_items,
        "item": item,
        "clips_read": samples,
        "seconds": round(dt, 3),
        "items_per_s_per_core": round(n_items / dt, 1),
        "clips_per_s_per_core": round(samples / dt, 1),
        "skipped": dict(view.skipped),
    }


def bytes_per_clip(shards: list[str]) -> int:
    from avprep.reader import iter_samples

    n = sum(1 for _ in iter_samples(shards))
    return round(sum(os.path.getsize(p) for p in shards) / n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=120)
    ap.add_argument("--work", default="/tmp/avprep-bench-reader")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    os.environ.setdefault("AVPREP_HOME", str(Path(args.work) / "home"))
    work = Path(args.work)
    builds = {  # "lrw_*": the demo's LRW-layout word clips (the library's own LRW-like corpus)
        "lrw_mp4": build(work, "lrw_mp4", "mp4", parts="words"),
        "lrw_jpg": build(work, "lrw_jpg", "jpg", parts="words"),
        "demo_mp4": build(work, "demo_mp4", "mp4"),
    }
    sets = {name: replicate(b, work / f"rep_{name}", args.clips) for name, b in builds.items()}
    results = []
    for name in ("lrw_mp4", "lrw_jpg"):
        r = time_view(sets[name], make_view("davs"), 8, "24-frame DAVS sequence of a 29-frame clip")
        r["shards"] = name
        results.append(r)
    cran = make_view("cran", CranConfig(seq_len=32))
    r = time_view(sets["demo_mp4"], cran, 8, "32-frame CRAN sequence")
    r["shards"] = "demo_mp4"
    results.append(r)
    for name in ("lrw_mp4", "demo_mp4"):
        r = time_view(sets[name], make_view("dvae_segments"), 256, "200 ms log-spectrogram segment")
        r["shards"] = name
        results.append(r)
    r = time_view(sets["demo_mp4"], make_view("dvae_segments", DvaeConfig(noise_db=-30)), 256,
                  "200 ms segment, -30 dB track")  # fmt: skip
    r["shards"] = "demo_mp4"
    results.append(r)
    r = time_view(sets["demo_mp4"], make_view("dvae_faces"), 4, "32 face frames + segments")
    r["shards"] = "demo_mp4"
    results.append(r)
    sizes = {name: bytes_per_clip(s) for name, s in sets.items()}
    n_frames = {}
    from avprep.reader import iter_samples

    for name, s in sets.items():
        n_frames[name] = sorted({x.n_frames for x in iter_samples(s[:1])})
    out = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores_used": 1},
        "torch_threads": torch.get_num_threads(),
        "clips_per_set": args.clips,
        "shard_bytes_per_clip": sizes,
        "frames_per_clip": n_frames,
        "results": results,
        "targets": {"davs_clips_per_s_per_core": 25, "dvae_stage1_segments_per_s_per_core": 2000},
    }
    for r in results:
        print(
            f"{r['view']:>14} {r['shards']:>9}: {r['items_per_s_per_core']:>9.1f} items/s "
            f"({r['clips_per_s_per_core']:.1f} clips/s) per core  [{r['item']}]"
        )
    print("shard bytes per clip:", sizes)
    dest = ROOT / "benchmarks" / "results" / "reader.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
