"""Builds that must not stop: file names that are not UTF-8, and a disk that fills up
(issue 19, cases 2 and 5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
from click.testing import CliRunner

from avprep.cli import main
from avprep.schema import validate_sample_meta
from avprep.shards import iter_shard

SPINE = ["--face-backend", "none", "--features", "none", "--aligner", "none", "--no-progress"]


def test_file_names_that_are_not_utf8_are_built(tmp_path, demo_corpus):
    root = tmp_path / "corpus"
    root.mkdir()
    clip = (demo_corpus / "speaker1" / "clip00.mp4").read_bytes()
    bad_dir = os.path.join(os.fsencode(root), b"sp\xeaker")  # Latin-1 bytes: not UTF-8
    os.mkdir(bad_dir)
    with open(os.path.join(bad_dir, b"caf\xe9.mp4"), "wb") as f:
        f.write(clip)
    with open(os.path.join(bad_dir, b"caf\xe9.txt"), "wb") as f:
        f.write(b"hello world\n")
    (root / "good.mp4").write_bytes(clip)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main, ["build", "folder", "--root", str(root), "--out", str(out), *SPINE]
    )
    assert r.exit_code == 0, r.output
    assert "2 clips: 2 ok" in r.output
    rows = {r["source"]: r for r in pq.read_table(out / "manifest.parquet").to_pylist()}
    assert set(rows) == {"good.mp4", "sp\\xeaker/caf\\xe9.mp4"}
    odd = rows["sp\\xeaker/caf\\xe9.mp4"]
    assert odd["speaker"] == "sp\\xeaker" and odd["transcript"] == "hello world"
    with open(out / "shards" / "train-000000.tar", "rb") as f:
        samples = dict(iter_shard(f))
    meta = json.loads(samples[odd["key"]]["json"])
    validate_sample_meta(meta)
    assert meta["source"] == "sp\\xeaker/caf\\xe9.mp4"


def test_a_full_disk_names_the_file_and_the_rerun_resumes(tmp_path, demo_corpus):
    root = tmp_path / "corpus"
    shutil.copytree(demo_corpus, root)
    out = tmp_path / "out"
    args = ["build", "folder", "--root", str(root), "--out", str(out), *SPINE, "--shard-size", "3"]
    cmd = [sys.executable, "-c", "from avprep.cli import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # no write may grow a file past 60 kB: plan files fit, a shard of JPEG frames does not
    # (the kernel then fails the write with EFBIG, as a full disk fails it with ENOSPC). The
    # child sets the limit itself: a preexec_fn would fork this test process, whose gRPC threads
    # (from earlier in-process Beam builds) then left the child's gRPC broken now and then.
    limited = [
        sys.executable, "-c",
        "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000)); "
        "from avprep.cli import main; main()",
        *args,
    ]  # fmt: skip
    r = subprocess.run(limited, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr[-3000:]  # a message, not a traceback
    assert "could not write" in r.stderr and str(out / "shards") in r.stderr
    assert "rerun the same command" in r.stderr
    assert not (out / "manifest.parquet").exists()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "6 clips: 6 ok" in r.stdout


def test_a_bad_user_file_is_not_called_a_pipeline_option(tmp_path, demo_corpus):
    root = tmp_path / "vox"  # VoxCeleb2 layout: transcripts come from a sidecar
    clip = root / "dev" / "mp4" / "id00012" / "21Uxsk56VDQ" / "00001.mp4"
    clip.parent.mkdir(parents=True)
    shutil.copy(demo_corpus / "speaker1" / "clip00.mp4", clip)
    sidecar = tmp_path / "subs.tsv"
    sidecar.write_bytes("id00012/21Uxsk56VDQ/00001\tПривет мир\n".encode("cp1251"))
    r = CliRunner().invoke(
        main,
        ["build", "voxceleb", "--root", str(root), "--out", str(tmp_path / "o"), *SPINE,
         "--transcripts", str(sidecar)],
    )  # fmt: skip
    assert r.exit_code == 1 and "pipeline options" not in r.output, r.output
    assert "subs.tsv is not UTF-8" in r.output
