"""A small local build runs in-process without Beam (pipelines/local.py) and writes what the Beam
DirectRunner job writes: the same shard and manifest bytes, the same resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from avprep.config import BuildConfig
from pipelines.build import PipelineOptionsError, run_build


def _config(root: Path, out: Path, **kw) -> BuildConfig:
    # every default stage (dlib faces, four feature tracks, phone labels), two shards
    return BuildConfig(dataset="folder", root=str(root), out=str(out), shard_size=2, limit=3, **kw)


def _files(out: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir())}
    files["manifest.parquet"] = (out / "manifest.parquet").read_bytes()
    return files


def _build_info(out: Path) -> dict:
    info = json.loads((out / "build.json").read_text())
    info["config"].pop("out")
    return info


def test_in_process_build_imports_no_beam_and_equals_the_direct_runner_build(tmp_path, demo_corpus):
    beam_out, local_out = tmp_path / "beam", tmp_path / "local"
    beam = run_build(_config(demo_corpus, beam_out), ["--runner=DirectRunner"], report=False)
    assert beam.pipeline_result is not None  # the Beam job ran
    code = (
        "import sys\n"
        "from avprep.config import BuildConfig\n"
        "from pipelines.build import run_build\n"
        f"cfg = BuildConfig(dataset='folder', root={str(demo_corpus)!r}, out={str(local_out)!r},"
        " shard_size=2, limit=3)\n"
        "r = run_build(cfg, report=False)\n"
        "print(r.info['counts']['ok'], sorted(m for m in sys.modules if 'apache_beam' in m))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[-2:] == ["3", "[]"], res.stdout  # three clips, no Beam module
    assert beam.info["counts"]["ok"] == 3 and beam.info["counts"]["shards"] == 2
    assert _files(local_out) == _files(beam_out)
    assert _build_info(local_out) == _build_info(beam_out)  # versions (Beam's too), counts


def test_in_process_resume_redoes_only_missing_shards(tmp_path, demo_corpus):
    spine = {"face_backend": "none", "features": (), "aligner": "none"}
    ref, out = tmp_path / "ref", tmp_path / "out"
    run_build(_config(demo_corpus, ref, **spine), ["--runner=DirectRunner"], report=False)
    first = run_build(_config(demo_corpus, out, **spine), report=False)
    assert first.pipeline_result is None and first.counters["shards_written"] == 2
    # as a build killed mid-way leaves it: the second shard never renamed into place
    (out / "shards" / "train-000001.tar").rename(out / "shards" / "train-000001.tar.tmp-dead0000")
    (out / "_parts" / "train-000001.parquet").unlink()
    (out / "manifest.parquet").unlink()
    kept = (out / "shards" / "train-000000.tar").stat().st_mtime_ns
    again = run_build(_config(demo_corpus, out, **spine), report=False)
    assert (again.shards_total, again.shards_skipped) == (2, 1)
    assert again.counters == {"clips_ok": 1, "shards_written": 1}
    assert (out / "shards" / "train-000000.tar").stat().st_mtime_ns == kept  # not redone
    assert not list((out / "shards").glob("*.tmp-*"))
    assert _files(out) == _files(ref)


@pytest.mark.parametrize(
    ("args", "workers", "match"),
    [
        (["--runner=inprocess", "--dry_run=True"], None, "takes no Beam options"),
        (["--runner", "InProcess"], 2, "runs one process"),
    ],
)
def test_explicit_in_process_runner_refuses_what_it_would_ignore(tmp_path, args, workers, match):
    with pytest.raises(PipelineOptionsError, match=match):
        run_build(_config(tmp_path, tmp_path / "out"), args, workers=workers)
    assert not (tmp_path / "out").exists()
