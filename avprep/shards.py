"""Deterministic webdataset tar shards: write, read, and name.

A sample is ``(key, {field: bytes})``; the tar member is ``<key>.<field>``
(webdataset splits at the first dot of the basename, so keys hold no dots: the writer
refuses a key that is not :func:`avprep.keys.is_safe_key`). Field names are
:mod:`avprep.sample_format`'s.
Members are written sorted by key then field, with fixed mtime/owner/mode, so
two builds of the same input give byte-identical shards.

Reading treats a shard as untrusted: only regular members are read, each at most
``max_member_bytes`` (default 1 GiB, ``$AVPREP_MAX_MEMBER_BYTES`` or the argument raises
it); links, sparse and special members, absolute names and ``..`` are refused with a
:class:`ShardFormatError` naming the member. Split and shard names that become file names
are checked by :func:`check_split` / :func:`check_shard_name`.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath
from typing import BinaryIO

from avprep.keys import is_safe_key

FIXED_MTIME = 0  # 1970-01-01: any constant makes shards reproducible
DEFAULT_MAX_MEMBER_BYTES = 1 << 30
_SPLIT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_SHARD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}-\d{6}\.tar$")


class ShardFormatError(ValueError):
    """A shard (or a name that would become a path) that avprep refuses to read or write."""


def member_byte_limit() -> int:
    """The per-member read limit: ``$AVPREP_MAX_MEMBER_BYTES`` or 1 GiB."""
    value = os.environ.get("AVPREP_MAX_MEMBER_BYTES")
    try:
        return int(value) if value else DEFAULT_MAX_MEMBER_BYTES
    except ValueError:
        raise ShardFormatError(
            f"AVPREP_MAX_MEMBER_BYTES={value!r} is not a whole number of bytes"
        ) from None


def check_split(split: str) -> str:
    """``split`` if it is safe inside a file name (letters, digits, ``_ . -``; not ``..``)."""
    if not isinstance(split, str) or not _SPLIT.match(split) or ".." in split:
        raise ShardFormatError(
            f"split {split!r} cannot name a shard file: use letters, digits, '_', '-', '.'"
        )
    return split


def check_shard_name(name: str) -> str:
    """``name`` if it is a plain shard file name (``{split}-NNNNNN.tar``, no folders)."""
    if not isinstance(name, str) or not _SHARD.match(name) or ".." in name:
        raise ShardFormatError(
            f"{name!r} is not a shard file name ({{split}}-NNNNNN.tar, no folders)"
        )
    return name


def shard_name(split: str, index: int) -> str:
    return f"{check_split(split)}-{index:06d}.tar"


class ShardWriter:
    """Streams samples into a tar, one at a time, in strictly ascending key order
    (the build processes a shard's clips sorted by key, so memory holds one sample)."""

    def __init__(self, fileobj: BinaryIO) -> None:
        self._tar = tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.GNU_FORMAT)
        self._last: str | None = None
        self.count = 0

    def add(self, key: str, fields: dict[str, bytes]) -> None:
        if not is_safe_key(key):  # a dot or slash would split or nest the member names
            raise ShardFormatError(
                f"sample key {key!r} cannot name shard members: keys hold only letters, digits, "
                "'_' and '-' (avprep.keys.clip_key makes such keys)"
            )
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


def _check_member(member: tarfile.TarInfo, limit: int) -> None:
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        raise ShardFormatError(
            f"member {name!r} has an absolute or parent ('..') path: not a webdataset sample"
        )
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        raise ShardFormatError(
            f"member {name!r} is a {kind} link (to {member.linkname!r}): shards hold regular "
            "files only"
        )
    if member.issparse():
        raise ShardFormatError(f"member {name!r} is a sparse file: shards hold regular files only")
    if not member.isreg():
        raise ShardFormatError(
            f"member {name!r} is a special file (device, fifo ...): shards hold regular files only"
        )
    if member.size > limit:
        raise ShardFormatError(
            f"member {name!r} is {member.size} bytes, over the {limit}-byte limit per member; "
            "raise it with AVPREP_MAX_MEMBER_BYTES (or max_member_bytes=) if the shard is yours"
        )


def iter_shard(
    fileobj: BinaryIO, max_member_bytes: int | None = None
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Yield ``(key, {field: bytes})`` from a tar stream, grouping consecutive members.

    Raises :class:`ShardFormatError` for a member it refuses (module docstring)."""
    limit = max_member_bytes if max_member_bytes is not None else member_byte_limit()
    current: str | None = None
    fields: dict[str, bytes] = {}
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in tar:
            if member.isdir():
                continue
            _check_member(member, limit)
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
