"""Local and remote (gs://, s3://, http://) file access for adapters and readers, via fsspec.

Adapters list and read corpus files with these helpers so the same code walks
``/data/lrw`` and ``gs://bucket/lrw``. (Shard *writes* in ``pipelines/`` go
through Beam's FileSystems instead, so they work on every Beam runner.)
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import fsspec


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _fs(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        return fsspec.core.url_to_fs(path)
    except (ImportError, ValueError) as e:
        raise RuntimeError(
            f"cannot access {path!r}: {e}. Install the fsspec backend for this scheme "
            "(gcsfs for gs://, s3fs for s3://)."
        ) from e


def join(root: str, *parts: str) -> str:
    if is_remote(root):
        return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(root, *parts)


def relpath(path: str, root: str) -> str:
    """``path`` relative to ``root``, always ``/``-separated (used for keys)."""
    if is_remote(root):
        return path[len(root.rstrip("/")) + 1 :]
    return os.path.relpath(path, root).replace(os.sep, "/")


def exists(path: str) -> bool:
    if not is_remote(path):
        return os.path.exists(path)
    fs, p = _fs(path)
    return fs.exists(p)


def isdir(path: str) -> bool:
    if not is_remote(path):
        return os.path.isdir(path)
    fs, p = _fs(path)
    return fs.isdir(p)


def walk_files(root: str, suffixes: tuple[str, ...] = ()) -> Iterator[str]:
    """Every file under ``root`` (recursively) whose name ends with one of
    ``suffixes`` (case-insensitive; all files when empty), in sorted order."""
    sfx = tuple(s.lower() for s in suffixes)

    def wanted(name: str) -> bool:
        return not sfx or name.lower().endswith(sfx)

    if not is_remote(root):
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                if wanted(name):
                    yield os.path.join(dirpath, name)
        return
    fs, p = _fs(root)
    proto = root.split("://", 1)[0]
    for f in sorted(fs.find(p)):
        if wanted(f):
            yield f"{proto}://{f}"


def open_binary(path: str) -> io.BufferedIOBase:
    if not is_remote(path):
        return open(path, "rb")
    fs, p = _fs(path)
    return fs.open(p, "rb")


def read_bytes(path: str) -> bytes:
    with open_binary(path) as f:
        return f.read()


def read_text(path: str, encoding: str = "utf-8") -> str:
    return read_bytes(path).decode(encoding, errors="replace")
