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
from avprep.build_layout import BuildLayout


class BuildCheckError(ValueError):
    """A ``--data`` build that cannot serve the method (the message names the fix)."""


def read_build_info(source: str) -> dict[str, Any] | None:
    """``build.json`` of a build folder (with ``"path"`` added), or None for other sources."""
    if any(c in source for c in "*?[{") or source.startswith("pipe:"):
        return None
    path = BuildLayout(source).build_info
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

    methods.method(method)  # unknown method: KeyError naming the known ones
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
        problems += [f"{source}: {p}" for p in methods.check_build(method, info, stage)]
    return problems


# ------------------------------------------------------------------------ helpers for methods
# A method's ``check_build(info, stage)`` can be a few calls of these; each problem names
# the ``avprep build`` option that makes what is missing.


def build_config(info: dict[str, Any]) -> dict[str, Any]:
    return dict(info.get("config") or {})


def feature_names(info: dict[str, Any]) -> set[str]:
    """Audio feature tracks the build computed (built-in names and user-defined ones)."""
    cfg = build_config(info)
    names = set(cfg.get("features") or ())
    for user in cfg.get("feature_configs") or ():
        if isinstance(user, dict) and user.get("name"):
            names.add(user["name"])
    return names


def missing_features(info: dict[str, Any], *tracks: str) -> list[str]:
    have = feature_names(info)
    lacking = [t for t in tracks if t not in have]
    if not lacking:
        return []
    wanted = ",".join(sorted(have | set(lacking)))
    return [
        f"no {'/'.join(lacking)} feature track (it has {', '.join(sorted(have)) or 'none'}): "
        f"build with --features {wanted}"
    ]


def missing_face(info: dict[str, Any]) -> list[str]:
    if build_config(info).get("face_backend", "none") == "none":
        return ["no face crops (built with --face-backend none): build with --face-backend dlib "
                "(or fan)"]  # fmt: skip
    return []


def missing_alignment(info: dict[str, Any]) -> list[str]:
    if build_config(info).get("aligner", "none") == "none":
        return ["no phone/viseme alignment (built with --aligner none): build with "
                "--aligner pocketsphinx (or mfa)"]  # fmt: skip
    return []


def missing_noise(info: dict[str, Any], levels_db: Iterable[float]) -> list[str]:
    have = {float(x) for x in build_config(info).get("noise_levels_db") or ()}
    lacking = [float(x) for x in levels_db if float(x) not in have]
    if not lacking:
        return []
    flags = " ".join(f"--noise-db {x:g}" for x in sorted(have | set(lacking)))
    return [f"no noisy copies at {', '.join(f'{x:g}' for x in lacking)} dB: build with {flags}"]
