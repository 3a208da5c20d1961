"""Stable, unique, tar-safe sample keys.

webdataset splits a member name at the first ``.`` of its basename into key and
field, so keys must contain no dots and no slashes; we also keep them ASCII.
Sanitising alone could make two paths collide (``a b.mp4`` vs ``a_b.mp4``), so
the key ends with a short hash of the exact relative path: readable and unique.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clip_key(dataset: str, relpath: str, max_readable: int = 80) -> str:
    """Key for the clip at ``relpath`` (relative to the corpus root, ``/``-separated)."""
    rel = relpath.replace("\\", "/").strip("/")
    # a POSIX name may hold any bytes: Python gives the non-UTF-8 ones as lone surrogates
    # (surrogateescape); "surrogatepass" encodes them injectively (UTF-8 names: unchanged)
    digest = hashlib.sha1(f"{dataset}\0{rel}".encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    readable = _UNSAFE.sub("_", ascii_stem.replace("/", "__")).strip("_")[:max_readable]
    return f"{dataset}_{readable}_{digest}" if readable else f"{dataset}_{digest}"


def printable(text: str) -> str:
    """``text`` as valid UTF-8 for the manifest and sample metadata: bytes of a file name that
    are not UTF-8 (lone surrogates from ``os.fsdecode``) are written as ``\\xNN``."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(
        lambda m: f"\\x{ord(m[0]) - 0xDC00:02x}" if ord(m[0]) >= 0xDC80 else f"\\u{ord(m[0]):04x}",
        text,
    )


def printable_values(value):  # noqa: ANN001, ANN201 (any JSON-like value)
    """:func:`printable` applied to every string inside ``value`` (dicts, lists, tuples)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_values(k): printable_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(printable_values(v) for v in value)
    return value


def is_safe_key(key: str) -> bool:
    return bool(key) and _UNSAFE.search(key) is None
