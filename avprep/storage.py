"""Local and remote (gs://, s3://, http://, memory://) file access, read and write, via fsspec.

Everything avprep reads or writes outside the training loop goes through here: corpus
adapters list and read media, readers open shards, and the build (``pipelines/``), the
selection, the reshard and the report write their files, so the same code serves
``/data/lrw`` and ``gs://bucket/lrw``.

Writes are atomic: :func:`atomic_write` (and :func:`write_bytes` on top of it) writes a temp
file ``<path>.tmp-<8 hex>`` beside the target and renames it into place only after the last
byte is written, so a reader (or a resumed build asking "is this shard done?") never sees half
a file; a write that fails removes its temp file. Object stores get the same temp-then-rename
(a server-side copy): an fsspec file commits its object when closed, also when closed by an
exception, so writing the final name directly would publish half an object whenever the
writer failed mid-stream. Temp files a killed process leaves carry the ``.tmp-`` suffix; the
build finds and deletes them by that pattern (:mod:`pipelines.build_folder`).

Why fsspec and not Beam's FileSystems for the build's own writes (they used FileSystems until
issue 20): ``avprep/`` has no Beam, and one write path is the point of this module. fsspec
reaches every place Beam's FileSystems did for avprep (local, ``gs://`` through gcsfs, a hard
dependency; ``s3://`` through s3fs as Beam needs its ``aws`` extra), and the workers already
read their media through it, so a worker that can read the corpus can write the build. A
runner-specific adapter would have meant two write paths with two sets of semantics.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import fsspec

TEMP_MARK = ".tmp-"  # <path>.tmp-<8 hex>: an atomic write in progress (or left by a kill)


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    """A local path (``file://`` URLs are local files)."""
    return path[len("file://") :] if path.startswith("file://") else path


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
        return os.path.exists(_local(path))
    fs, p = _fs(path)
    return fs.exists(p)


def isdir(path: str) -> bool:
    if not is_remote(path):
        return os.path.isdir(_local(path))
    fs, p = _fs(path)
    return fs.isdir(p)


def walk_files(root: str, suffixes: tuple[str, ...] = ()) -> Iterator[str]:
    """Every file under ``root`` (recursively) whose name ends with one of
    ``suffixes`` (case-insensitive; all files when empty), in sorted order."""
    sfx = tuple(s.lower() for s in suffixes)

    def wanted(name: str) -> bool:
        return not sfx or name.lower().endswith(sfx)

    if not is_remote(root):
        for dirpath, dirnames, filenames in os.walk(_local(root)):
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


def list_names(path: str) -> list[str]:
    """Names directly under folder ``path``, sorted (object stores: the first path component
    of every object under the prefix); ``[]`` when there is no such folder."""
    if not is_remote(path):
        try:
            return sorted(os.listdir(_local(path)))
        except (FileNotFoundError, NotADirectoryError):
            return []
    fs, p = _fs(path)
    prefix = p.rstrip("/") + "/"
    try:
        found = fs.find(prefix)
    except FileNotFoundError:
        return []
    return sorted({f[len(prefix) :].split("/", 1)[0] for f in found if f.startswith(prefix)} - {""})


def glob(pattern: str) -> list[str]:
    """Paths matching a glob pattern, sorted (URLs of the pattern's scheme when remote)."""
    if not is_remote(pattern):
        import glob as _glob

        return sorted(_glob.glob(_local(pattern)))
    fs, p = _fs(pattern)
    return sorted(fs.unstrip_protocol(m) for m in fs.glob(p))


def open_binary(path: str) -> io.BufferedIOBase:
    if not is_remote(path):
        return open(_local(path), "rb")
    fs, p = _fs(path)
    return fs.open(p, "rb")


def read_bytes(path: str) -> bytes:
    with open_binary(path) as f:
        return f.read()


def read_text(path: str, encoding: str = "utf-8") -> str:
    return read_bytes(path).decode(encoding, errors="replace")


# --------------------------------------------------------------------------- writing


def makedirs(path: str) -> None:
    """Create folder ``path`` (and its parents) locally; object stores have no folders."""
    if not is_remote(path):
        os.makedirs(_local(path), exist_ok=True)


def temp_path(path: str) -> str:
    """The name an atomic write of ``path`` uses until it is complete."""
    return f"{path}{TEMP_MARK}{uuid.uuid4().hex[:8]}"


def leftover_temps(paths: Iterable[str]) -> list[str]:
    """Temp files of atomic writes of ``paths`` that never finished (their writer was killed)."""
    found: list[str] = []
    for path in paths:
        if is_remote(path):
            found += glob(f"{path}{TEMP_MARK}*")
        else:
            import glob as _glob

            found += sorted(_glob.glob(f"{_glob.escape(_local(path))}{TEMP_MARK}*"))
    return found


@contextlib.contextmanager
def atomic_write(path: str) -> Iterator[BinaryIO]:
    """A binary file to write; it appears as ``path`` only when the block ends without an
    exception (module docstring). Local parent folders are created."""
    if not is_remote(path):
        path = _local(path)
    tmp = temp_path(path)
    if is_remote(path):
        fs, p_tmp = _fs(tmp)
        p_final = _fs(path)[1]
        opener = fs.open(p_tmp, "wb")
    else:
        fs = None
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        opener = open(tmp, "wb")
    try:
        with opener as f:
            yield f
        if fs is None:
            os.replace(tmp, path)
        else:
            fs.mv(p_tmp, p_final)
    finally:
        with contextlib.suppress(OSError):
            if exists(tmp):
                delete([tmp])


def write_bytes(path: str, data: bytes) -> None:
    """``data`` into ``path``, atomically (:func:`atomic_write`)."""
    with atomic_write(path) as f:
        f.write(data)


def write_text(path: str, text: str, encoding: str = "utf-8") -> None:
    write_bytes(path, text.encode(encoding))


def rename(src: str, dst: str) -> None:
    """Move a finished file into place (same folder or bucket)."""
    if not is_remote(src):
        os.replace(_local(src), _local(dst))
        return
    fs, p = _fs(src)
    fs.mv(p, _fs(dst)[1])


def delete(paths: Iterable[str]) -> None:
    """Remove files; one already gone is not an error."""
    for path in paths:
        if not is_remote(path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(_local(path))
            continue
        fs, p = _fs(path)
        with contextlib.suppress(FileNotFoundError):
            fs.rm(p)
