"""avprep.storage writes atomically (local and through fsspec) and avprep.build_layout names
a build folder's files the same way locally and remotely (issue 20)."""

from __future__ import annotations

import fsspec
import pytest

from avprep import storage
from avprep.build_layout import BuildLayout, shard_stem


def test_atomic_write_appears_only_when_complete(tmp_path):
    path = str(tmp_path / "sub" / "out.bin")  # parent folders are made
    with storage.atomic_write(path) as f:
        f.write(b"half")
        assert not storage.exists(path)  # a reader sees nothing yet ...
        assert len(storage.leftover_temps([path])) == 1  # ... only the temp file
    assert storage.read_bytes(path) == b"half"
    assert storage.leftover_temps([path]) == []


def test_a_failed_write_leaves_neither_the_file_nor_a_temp(tmp_path):
    path = str(tmp_path / "out.bin")
    storage.write_bytes(path, b"old")
    with pytest.raises(RuntimeError, match="mid-stream"):
        with storage.atomic_write(path) as f:
            f.write(b"new, but")
            raise RuntimeError("mid-stream")
    assert storage.read_bytes(path) == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_remote_write_read_list_delete_through_fsspec():
    root = "memory://bucket-storage-test/build"
    try:
        storage.write_text(storage.join(root, "a.json"), "{}")
        with pytest.raises(ValueError):
            with storage.atomic_write(storage.join(root, "shards", "x-000000.tar")) as f:
                f.write(b"partial")
                raise ValueError("writer died")
        storage.write_bytes(storage.join(root, "shards", "y-000000.tar"), b"tar")
        assert storage.list_names(root) == ["a.json", "shards"]
        assert storage.list_names(storage.join(root, "shards")) == ["y-000000.tar"]
        (found,) = storage.glob(storage.join(root, "shards", "*.tar"))
        assert found.endswith("shards/y-000000.tar") and storage.read_bytes(found) == b"tar"
        assert storage.read_text(storage.join(root, "a.json")) == "{}"
        storage.delete([storage.join(root, "a.json"), storage.join(root, "gone.json")])
        assert not storage.exists(storage.join(root, "a.json"))
        assert storage.list_names("memory://bucket-storage-test/nothing") == []
    finally:
        fsspec.filesystem("memory").rm("/bucket-storage-test", recursive=True)


def test_file_urls_are_local_files(tmp_path):
    path = tmp_path / "x.txt"
    storage.write_text(f"file://{path}", "local")
    assert path.read_text() == "local" and storage.exists(f"file://{path}")


def test_layout_names_every_file_locally_and_remotely(tmp_path):
    local = BuildLayout(tmp_path)
    assert local.manifest == str(tmp_path / "manifest.parquet")
    assert local.part("train-000003.tar") == str(tmp_path / "_parts" / "train-000003.parquet")
    remote = BuildLayout("gs://b/out/")
    assert remote.build_info == "gs://b/out/build.json"
    assert remote.shard("val-000000.tar") == "gs://b/out/shards/val-000000.tar"
    assert remote.shard_files("val-000000.tar") == [
        "gs://b/out/shards/val-000000.tar", "gs://b/out/_parts/val-000000.parquet",
        "gs://b/out/_plan/val-000000.jsonl", "gs://b/out/_progress/val-000000.log",
    ]  # fmt: skip
    # a split may hold ".tar": only the suffix goes
    assert shard_stem("a.tarb-000000.tar") == "a.tarb-000000"
