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


def clip_key(dataset: str, relpath: str, max_readable: int = 80) -> str:
    """Key for the clip at ``relpath`` (relative to the corpus root, ``/``-separated)."""
    rel = relpath.replace("\\", "/").strip("/")
    digest = hashlib.sha1(f"{dataset}\0{rel}".encode()).hexdigest()[:10]
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    readable = _UNSAFE.sub("_", ascii_stem.replace("/", "__")).strip("_")[:max_readable]
    return f"{dataset}_{readable}_{digest}" if readable else f"{dataset}_{digest}"


def is_safe_key(key: str) -> bool:
    return bool(key) and _UNSAFE.search(key) is None
