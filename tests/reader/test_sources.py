"""Shard specs: build folder, split filter, directory, brace pattern, glob, fsspec URL, pipe:."""

from __future__ import annotations

import json
import shutil

import fsspec
import pytest

from avprep.reader import ShardSourceError, iter_samples, resolve_shards
from avprep.reader.sources import iter_shard_samples


def _names(urls):
    return [u.rsplit("/", 1)[-1] for u in urls]


def test_build_folder_directory_brace_glob_agree(demo_build):
    info = json.loads((demo_build / "build.json").read_text())
    from_build = resolve_shards(demo_build)
    assert _names(from_build) == info["shards"] == [f"train-{i:06d}.tar" for i in range(3)]
    shards = demo_build / "shards"
    assert resolve_shards(str(shards)) == from_build
    assert resolve_shards(f"{shards}/train-{{000000..000002}}.tar") == from_build
    assert resolve_shards(f"{shards}/*.tar") == from_build
    assert resolve_shards([from_build[2], from_build[0]]) == [from_build[2], from_build[0]]
    assert resolve_shards(demo_build, splits=["train"]) == from_build
    with pytest.raises(ShardSourceError, match="split"):
        resolve_shards(demo_build, splits=["test"])
    with pytest.raises(ShardSourceError, match="does not exist"):
        resolve_shards(str(demo_build / "nope.tar"))


def test_incomplete_build_is_named(demo_build, tmp_path):
    copy = tmp_path / "partial"
    shutil.copytree(demo_build, copy)
    (copy / "shards" / "train-000001.tar").unlink()
    with pytest.raises(ShardSourceError, match="incomplete"):
        resolve_shards(copy)


def test_pipe_and_file_url_read_the_same_samples(demo_build):
    url = resolve_shards(demo_build)[0]
    direct = [(k, sorted(f)) for k, f in iter_shard_samples(url)]
    assert len(direct) == 2
    assert [(k, sorted(f)) for k, f in iter_shard_samples(f"pipe:cat {url}")] == direct
    assert [(k, sorted(f)) for k, f in iter_shard_samples(f"file://{url}")] == direct
    with pytest.raises(OSError, match="exited with status"):
        list(iter_shard_samples(f"pipe:cat {url}.missing"))


def test_remote_build_folder_through_fsspec(demo_build):
    """A build folder on an fsspec filesystem (memory://, as gs:// would be) reads like a
    local one."""
    fs = fsspec.filesystem("memory")
    root = "memory://bucket/build"
    fs.put_file(str(demo_build / "build.json"), "/bucket/build/build.json")
    for p in sorted((demo_build / "shards").glob("*.tar")):
        fs.put_file(str(p), f"/bucket/build/shards/{p.name}")
    try:
        urls = resolve_shards(root)
        assert _names(urls) == [f"train-{i:06d}.tar" for i in range(3)]
        assert urls[0].startswith("memory://")
        remote = sorted(s.key for s in iter_samples(root))
        local = sorted(s.key for s in iter_samples(demo_build))
        assert remote == local and len(local) == 6
        assert _names(resolve_shards("memory://bucket/build/shards/*.tar")) == _names(urls)
    finally:
        fs.rm("/bucket", recursive=True)
