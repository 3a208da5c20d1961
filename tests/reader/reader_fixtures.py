"""Shard sets for the reader tests, built once per session by the real pipeline.

- ``demo``: the bundled demo corpus (6 clips, 3 shards of 2), dlib face crops as MP4, the
  four paper feature tracks, a -30 dB noisy copy of each, pocketsphinx phones/visemes;
- ``cremad``: the CREMA-D fixture corpus (emotion labels), crops as per-frame JPEG;
- ``synthetic_shards``: many tiny metadata-only samples in shards of uneven size, for the
  partitioning tests (only the key matters there).

``$AVPREP_TEST_BUILDS`` (unset in CI): a folder holding ``demo_build`` made beforehand by
this same function (``make gpu-prep``), used instead of building. The GPU machine has no
Beam, dlib or pocketsphinx to build with; its build.json must show this exact config.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from avprep.config import BuildConfig
from avprep.schema import SAMPLE_SCHEMA_VERSION
from avprep.shards import ShardWriter

FEATURES = ("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae")
PREBUILT_ENV = "AVPREP_TEST_BUILDS"


def demo_config(base: Path) -> BuildConfig:
    return BuildConfig(
        dataset="demo",
        root=str(base / "demo_corpus"),  # not $AVPREP_HOME: session fixtures run first
        out=str(base / "demo_build"),
        face_backend="dlib",
        features=FEATURES,
        noise_levels_db=(-30.0,),
        aligner="pocketsphinx",
        shard_size=2,
        discover_options={"parts": "talking"},  # the 6 talking clips
    )


def prebuilt(name: str, config: BuildConfig) -> Path | None:
    """``$AVPREP_TEST_BUILDS/name`` when set and present; a build made with another config
    is an error, not a silent substitute."""
    root = os.environ.get(PREBUILT_ENV)
    if not root:
        return None
    path = Path(root) / name
    info = path / "build.json"
    if not info.is_file():
        raise FileNotFoundError(f"${PREBUILT_ENV}={root} holds no {name}/build.json")
    got = json.loads(info.read_text())["config"]
    want = json.loads(json.dumps(config.to_dict()))  # tuples -> lists, as build.json has them
    diff = sorted(k for k in want if k not in ("out", "root") and got.get(k) != want[k])
    if diff:
        raise ValueError(f"{info} was built with other {', '.join(diff)}: re-run make gpu-prep")
    return path


@cache
def build_demo(base: Path) -> Path:
    config = demo_config(base)
    ready = prebuilt("demo_build", config)
    if ready is not None:
        return ready
    from pipelines.build import run_build

    run_build(config)
    return Path(config.out)


@cache
def build_cremad(base: Path) -> Path:
    from pipelines.build import run_build
    from tests.datasets import corpora

    root = corpora.make("cremad", base / "cremad_root")
    out = base / "cremad_build"
    run_build(
        BuildConfig(
            dataset="cremad",
            root=str(root),
            out=str(out),
            face_backend="dlib",
            face_options={"image_format": "jpg"},
            features=("logspec_dvae",),
            aligner="pocketsphinx",
            shard_size=2,
        )
    )
    return out


def minimal_meta(key: str, split: str = "train", kind: str = "clip") -> dict:
    return {
        "schema_version": SAMPLE_SCHEMA_VERSION,
        "key": key,
        "dataset": "synthetic",
        "split": split,
        "kind": kind,
        "source": f"{key}.mp4",
        "fps": 25.0,
        "n_frames": 1,
        "duration": 0.04,
        "sample_rate": 16000,
        "labels": {},
        "versions": {},
        "members": ["json"],
    }


SYNTHETIC_SIZES = (5, 1, 7, 3, 6, 2, 4)  # uneven shards: 28 samples


@cache
def synthetic_shards(base: Path) -> list[str]:
    out = base / "synthetic"
    out.mkdir(parents=True, exist_ok=True)
    paths, n = [], 0
    for s, size in enumerate(SYNTHETIC_SIZES):
        path = out / f"train-{s:06d}.tar"
        with open(path, "wb") as f, ShardWriter(f) as w:
            for _ in range(size):
                key = f"k{n:04d}"
                w.add(key, {"json": json.dumps(minimal_meta(key)).encode()})
                n += 1
        paths.append(str(path))
    return paths


def synthetic_keys() -> set[str]:
    return {f"k{i:04d}" for i in range(sum(SYNTHETIC_SIZES))}


@cache
def build_identity(base: Path) -> Path:
    from pipelines.build import run_build
    from tests.datasets import corpora

    root = corpora.make("identity", base / "identity_root")
    out = base / "identity_build"
    run_build(
        BuildConfig(
            dataset="identity",
            root=str(root),
            out=str(out),
            face_backend="dlib",
            face_options={"image_format": "jpg"},
            aligner="none",
            shard_size=4,
        )
    )
    return out
