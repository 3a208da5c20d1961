"""Prepare a GPU session (``make gpu-prep``): the wheels and the prebuilt data that
``benchmarks/gpu_session.sh`` needs on the lent GPU machine, which has PyTorch and a fixed
image of packages but no network, no Beam, dlib or pocketsphinx.

- ``.whl/``: cp312 manylinux x86_64 wheels of the packages the GPU tests and the training
  benchmark import that the device image lacks (CARRY), pinned to the versions installed
  where this runs (the project venv). Packages the image already has (DEVICE_HAS, from the
  device notes' package list) are not carried: a second copy on PYTHONPATH would shadow the
  image's own builds (torch there is 2.11, compiled against its numpy). Nothing from Beam,
  dlib or pocketsphinx: ``models/`` and the GPU tests import without them.
- ``.gpu/builds/demo_build``: the reader tests' demo build (tests/reader/reader_fixtures.py,
  made by that very function; the GPU tests find it through ``$AVPREP_TEST_BUILDS``) and
  ``.gpu/builds/demo_words``: the demo's word clips and identity photos, so that the
  benchmark sees every part of the demo corpus (the two builds together are the benchmark's
  default demo build split in two, less two noise levels nothing trains on), without
  carrying the talking clips twice. Both are pruned to what the reader opens (build.json,
  manifest.parquet, shards/): the report page and the resume state stay behind.

Everything that travels must stay under the device's 64 MiB working-tree limit; this script
measures it (tracked files + untracked-not-ignored files + .whl + .gpu) and fails above
LIMIT_MIB.

    python benchmarks/gpu_prep.py [--wheels-only] [--python-version 3.12] [--dest .whl]
    python benchmarks/gpu_prep.py --print-device-has   # pins for a device-like test venv
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Not in the device image: what the root conftest, the GPU test modules, models/, avprep's
# reader and `avprep generate` import (found by collecting and running them in a venv holding
# only torch, tensorboard, scikit-image and DEVICE_HAS). av and soundfile decode and write
# media; webdataset/braceexpand read shards; jsonschema (+ its three) checks sample metadata;
# python_speech_features and soxr are avprep's audio features and resampling.
CARRY = (
    "av",
    "soundfile",
    "cffi",  # soundfile's binding
    "pycparser",  # cffi's
    "soxr",
    "webdataset",
    "braceexpand",
    "jsonschema",
    "jsonschema-specifications",
    "referencing",
    "rpds-py",
    "python_speech_features",
)
# Published as a source archive only (pure Python): built into a wheel here.
SDIST_ONLY = {"python_speech_features"}

# In the device image already (KINDS.md's list) and imported by the same code: never carried;
# `--print-device-has` pins them for the CPU dry run's stand-in venv.
DEVICE_HAS = (
    "attrs",
    "click",
    "tqdm",
    "jinja2",
    "pyarrow",
    "opencv-python-headless",
    "torchmetrics",
    "scikit-learn",
    "matplotlib",
    "pyyaml",
    "pytest",
    "pytest-timeout",
)

PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
LIMIT_MIB = 60.0  # of the device's 64 MiB, with room for the repository to grow
BUILDS = ROOT / ".gpu" / "builds"
KEEP = ("build.json", "manifest.parquet", "shards")  # what the reader opens


def pinned(name: str, required: bool = True) -> str:
    try:
        return f"{name}=={metadata.version(name)}"
    except metadata.PackageNotFoundError:
        if not required:  # not a project dependency (pytest-timeout): any version
            return name
        sys.exit(f"{name} is not installed here: run this with the project venv's python")


def download_wheels(dest: Path, python_version: str) -> list[Path]:
    """One wheel per CARRY package at the installed version; other files in dest go."""
    dest.mkdir(parents=True, exist_ok=True)
    binary = [pinned(n) for n in CARRY if n not in SDIST_ONLY]
    source = [pinned(n) for n in CARRY if n in SDIST_ONLY]
    with tempfile.TemporaryDirectory(prefix="gpu-wheels-") as tmp:
        plat = [a for p in PLATFORMS for a in ("--platform", p)]
        pip = [sys.executable, "-m", "pip"]
        subprocess.run(
            [*pip, "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
             python_version, "--implementation", "cp", *plat, "-d", tmp, *binary],
            check=True,
        )  # fmt: skip
        subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", tmp, *source], check=True)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != len(CARRY):
            sys.exit(f"expected {len(CARRY)} wheels, got {[w.name for w in wheels]}")
        names = {w.name for w in wheels}
        for old in dest.iterdir():
            if old.name not in names:  # another version would stop the install there
                old.unlink()
        for w in wheels:
            shutil.copy2(w, dest / w.name)
    return sorted(dest.glob("*.whl"))


def _copy_pruned(build: Path, to: Path) -> None:
    if to.exists():
        shutil.rmtree(to)
    to.mkdir(parents=True)
    for name in KEEP:
        src = build / name
        if src.is_dir():
            shutil.copytree(src, to / name)
        else:
            shutil.copy2(src, to / name)


def words_config(base: Path):  # type: ignore[no-untyped-def]
    from avprep.config import BuildConfig
    from tests.reader.reader_fixtures import FEATURES

    return BuildConfig(
        dataset="demo", root=str(base / "words_corpus"), out=str(base / "demo_words"),
        face_backend="dlib", features=FEATURES, noise_levels_db=(-30.0,),
        aligner="pocketsphinx", shard_size=2, discover_options={"parts": "words,identities"},
    )  # fmt: skip


def make_builds(work: Path) -> None:
    """Both builds, unless .gpu/builds already holds them with the same configs."""
    import os

    from pipelines.build import run_build
    from tests.reader import reader_fixtures as rf

    os.environ[rf.PREBUILT_ENV] = str(BUILDS)
    for name, config, make in (
        ("demo_build", rf.demo_config(work), lambda c: rf.build_demo(work)),
        ("demo_words", words_config(work), lambda c: run_build(c)),
    ):
        try:
            rf.prebuilt(name, config)
            print(f"{name}: up to date in {BUILDS}")
            continue
        except (FileNotFoundError, ValueError) as e:
            print(f"{name}: building ({e})")
        saved = os.environ.pop(rf.PREBUILT_ENV)
        try:
            make(config)
        finally:
            os.environ[rf.PREBUILT_ENV] = saved
        _copy_pruned(Path(config.out), BUILDS / name)


def _bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())


def travel_size() -> dict[str, int]:
    """What a device call sends: tracked and untracked-not-ignored files, plus the carried
    .whl and .gpu folders (git-ignored)."""

    def files(*args: str) -> list[Path]:
        out = subprocess.run(
            ["git", "ls-files", "-z", *args], cwd=ROOT, capture_output=True, check=True
        ).stdout
        return [ROOT / p for p in out.decode().split("\0") if p]

    return {
        "repository": _bytes(files() + files("--others", "--exclude-standard")),
        ".whl": _bytes(list((ROOT / ".whl").rglob("*"))),
        ".gpu": _bytes(list((ROOT / ".gpu").rglob("*"))),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", default=str(ROOT / ".whl"), help="wheel folder")
    ap.add_argument("--python-version", default="3.12", help="the device's python (3.12)")
    ap.add_argument("--wheels-only", action="store_true")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "avprep-gpu-prep"))
    ap.add_argument("--print-device-has", action="store_true")
    args = ap.parse_args()
    if args.print_device_has:
        print(" ".join(pinned(n, required=False) for n in DEVICE_HAS))
        return
    wheels = download_wheels(Path(args.dest), args.python_version)
    for w in wheels:
        print(f"{w.stat().st_size / 2**20:8.2f} MiB  {w.name}")
    if args.wheels_only:
        return
    make_builds(Path(args.work))
    sizes = travel_size()
    total = sum(sizes.values())
    print(json.dumps({k: f"{v / 2**20:.1f} MiB" for k, v in {**sizes, "total": total}.items()}))
    if total > LIMIT_MIB * 2**20:
        sys.exit(f"{total / 2**20:.1f} MiB would travel: over the {LIMIT_MIB} MiB kept here")


if __name__ == "__main__":
    main()
