"""The build folder is the user's disk: a build never writes among, or deletes, files it did
not write, and two builds never write one folder at once (issue 19, cases 1 and 3)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from avprep.build_layout import LOCK as LOCK_FILE
from avprep.cli import main
from avprep.config import BuildConfig
from pipelines.build import run_build
from pipelines.build_folder import BuildLockedError, OutFolderError

SPINE = ["--face-backend", "none", "--features", "none", "--aligner", "none", "--no-progress"]


@pytest.fixture
def one_clip(tmp_path, demo_corpus) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(demo_corpus / "speaker1" / "clip00.mp4", root / "clip00.mp4")
    return root


def _build(root: Path, out: Path, *extra: str):
    args = ["build", "folder", "--root", str(root), "--out", str(out), *SPINE, *extra]
    return CliRunner().invoke(main, args)


def test_out_that_contains_the_root_is_refused(one_clip):
    users_own = one_clip / "build.json"
    users_own.write_text("the user's file")
    for out in (one_clip, one_clip.parent):
        r = _build(one_clip, out)
        assert r.exit_code != 0 and "contains the corpus root" in r.output, r.output
    assert users_own.read_text() == "the user's file"
    assert not (one_clip / "shards").exists() and not (one_clip.parent / "shards").exists()


def test_a_folder_that_is_not_a_build_is_refused_even_with_overwrite(one_clip, tmp_path):
    out = tmp_path / "photos"
    (out / "shards").mkdir(parents=True)
    (out / "shards" / "holiday.jpg").write_bytes(b"jpeg")
    for extra in ((), ("--overwrite",)):
        r = _build(one_clip, out, *extra)
        assert r.exit_code != 0 and "not an avprep build" in r.output, r.output
    assert (out / "shards" / "holiday.jpg").read_bytes() == b"jpeg"
    assert sorted(p.name for p in out.rglob("*")) == ["holiday.jpg", "shards"]


def test_overwrite_deletes_only_what_the_build_recorded(one_clip, tmp_path):
    out = tmp_path / "out"
    assert _build(one_clip, out).exit_code == 0
    mine = {
        out / "notes.txt": b"notes",
        out / "shards" / "other-000000.tar": b"a tar avprep never wrote",
        out / "_parts" / "mine.parquet": b"x",
        out / "_plan" / "keep.jsonl": b"{}",
        out / "shards" / "train-000001.tar.tmp-mine": b"y",
    }
    for path, data in mine.items():
        path.write_bytes(data)
    r = _build(one_clip, out, "--overwrite", "--shard-size", "2")
    assert r.exit_code == 0, r.output
    assert "1 clips: 1 ok" in r.output
    for path, data in mine.items():
        assert path.read_bytes() == data, path
    state = json.loads((out / "_state.json").read_text())
    assert state["shards"] == ["train-000000.tar"]
    assert not (out / LOCK_FILE).exists()  # released


def _config(root: Path, out: Path) -> BuildConfig:
    return BuildConfig(dataset="folder", root=str(root), out=str(out), shard_size=1)


def test_a_running_build_holds_the_folder(one_clip, tmp_path):
    out = tmp_path / "out"
    (out / "shards").mkdir(parents=True)
    (out / "_state.json").write_text("{}")
    # another build, alive on this host (this very process stands in for it), is mid-shard
    lock = {"pid": os.getpid(), "host": socket.gethostname(), "started": 0}
    (out / LOCK_FILE).write_text(json.dumps(lock))
    its_temp = out / "shards" / "train-000000.tar.tmp-0123abcd"
    its_temp.write_bytes(b"half a shard")
    with pytest.raises(BuildLockedError, match=f"process {os.getpid()} on"):
        run_build(_config(one_clip, out))
    assert its_temp.read_bytes() == b"half a shard"  # not deleted as stale
    assert not (out / "manifest.parquet").exists()
    r = _build(one_clip, out)
    assert r.exit_code != 0 and "being written by another avprep build" in r.output


def test_a_lock_left_by_a_dead_build_is_taken_over(one_clip, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = {"pid": dead.pid, "host": socket.gethostname(), "started": 0}
    (out / LOCK_FILE).write_text(json.dumps(lock))
    result = run_build(_config(one_clip, out))
    assert result.info["counts"]["ok"] == 1
    assert not (out / LOCK_FILE).exists()


def test_out_folder_errors_are_typed(one_clip):
    with pytest.raises(OutFolderError):
        run_build(_config(one_clip, one_clip))


def test_a_split_that_would_leave_the_shards_folder_is_refused():
    """An adapter's split value becomes part of shard file names (case 9, build side)."""
    from avprep.clips import ClipRef
    from avprep.plan import plan_shards
    from avprep.shards import ShardFormatError

    for split in ("../../escaped", "a/b", ".."):
        ref = ClipRef(key="k", dataset="folder", split=split, source="/c/clip.mp4")
        with pytest.raises(ShardFormatError, match="clip /c/clip.mp4: split"):
            plan_shards([ref], 4)
