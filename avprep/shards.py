"""Deterministic webdataset tar shards: write, read, and name.

A sample is ``(key, {field: bytes})``; the tar member is ``<key>.<field>``
(webdataset splits at the first dot of the basename, so keys hold no dots).
Members are written sorted by key then field, with fixed mtime/owner/mode, so
two builds of the same input give byte-identical shards.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

FIXED_MTIME = 0  # 1970-01-01: any constant makes shards reproducible


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}.tar"


class ShardWriter:
    """Streams samples into a tar, one at a time, in strictly ascending key order
    (the build processes a shard's clips sorted by key, so memory holds one sample)."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._tar = tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.GNU_FORMAT)
        self._last: str | None = None
        self.count = 0

    def add(self, key: str, fields: dict[str, bytes]) -> None:
        if self._last is not None and key <= self._last:
            raise ValueError(f"keys must be added in ascending order: {key!r} after {self._last!r}")
        for field in sorted(fields):
            _add(self._tar, f"{key}.{field}", fields[field])
        self._last = key
        self.count += 1

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_shard(fileobj: BinaryIO, samples: Iterable[tuple[str, dict[str, bytes]]]) -> int:
    """Write ``samples`` (any order: they are sorted by key here) to ``fileobj``;
    returns the sample count."""
    with ShardWriter(fileobj) as writer:
        for key, fields in sorted(samples, key=lambda s: s[0]):
            writer.add(key, fields)
    return writer.count


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = FIXED_MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def iter_shard(fileobj: BinaryIO) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Yield ``(key, {field: bytes})`` from a tar stream, grouping consecutive members."""
    current: str | None = None
    fields: dict[str, bytes] = {}
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            base = member.name.rsplit("/", 1)[-1]
            prefix = member.name[: len(member.name) - len(base)]
            key, _, field = base.partition(".")
            key = prefix + key
            f = tar.extractfile(member)
            data = f.read() if f is not None else b""
            if key != current:
                if current is not None:
                    yield current, fields
                current, fields = key, {}
            fields[field] = data
    if current is not None:
        yield current, fields
