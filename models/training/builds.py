"""Checking, before any work, that the ``--data`` builds hold what a method's stage reads.

Each build folder's ``build.json`` (its config: features, face backend, crop format,
aligner; its counts per split) goes to the registry's ``check_build`` for the method, which
returns problems that each name the ``avprep build`` option that fixes them. Shard sources
that are not build folders (a glob, a URL list) carry no ``build.json``; they are checked at
read time by the view (a missing member is a :class:`~avprep.reader.MissingFieldError`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from avprep import storage


class BuildCheckError(ValueError):
    """A ``--data`` build that cannot serve the method (the message names the fix)."""


def read_build_info(source: str) -> dict[str, Any] | None:
    """``build.json`` of a build folder (with ``"path"`` added), or None for other sources."""
    if any(c in source for c in "*?[{") or source.startswith("pipe:"):
        return None
    path = storage.join(source, "build.json")
    try:
        if not storage.exists(path):
            return None
        with storage.open_binary(path) as f:
            info = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as e:
        raise BuildCheckError(f"{path}: cannot read the build description ({e})") from None
    if not isinstance(info, dict):
        raise BuildCheckError(f"{path}: not a build description")
    info["path"] = source
    return info


def split_counts(info: dict[str, Any]) -> dict[str, int]:
    return dict((info.get("counts") or {}).get("ok_by_split") or {})


def check_builds(
    method: str, stage: str, sources: Sequence[str], splits: Iterable[str] | None
) -> list[str]:
    """Problems of every build folder in ``sources`` for ``method``/``stage`` (empty = fine):
    the method's own ``check_build`` plus "no clips of the training splits"."""
    from models import methods

    spec = methods.method(method)
    check = methods.load(spec.check_build) if spec.check_build else None
    wanted = set(splits) if splits else None
    problems: list[str] = []
    for source in sources:
        info = read_build_info(source)
        if info is None:
            continue
        counts = split_counts(info)
        if wanted is not None and counts and not any(counts.get(s, 0) for s in wanted):
            problems.append(
                f"{source}: no clips of split(s) {', '.join(sorted(wanted))} (it has "
                f"{', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}); "
                "pick one with --split"
            )
        if check is not None:
            problems += [f"{source}: {p}" for p in check(info, stage)]
    return problems
