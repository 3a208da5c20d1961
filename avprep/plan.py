"""Deterministic assignment of clips to shards, and the plan files that carry it.

Within a split, clips are ordered by a hash of their key and cut into shards of
``shard_size``: the same corpus always gives the same shards, and each shard
mixes speakers/words (hash order) instead of holding one word's clips, which
helps shuffle buffers at training time. Inside a shard samples are sorted by
key. The plan is written as one JSON-lines file per shard so workers read only
their own shard's clips (a Beam job graph must not embed a whole corpus).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable

from avprep.clips import ClipError, ClipRef
from avprep.shards import ShardFormatError, check_split, shard_name


def plan_shards(refs: Iterable[ClipRef], shard_size: int) -> dict[str, list[ClipRef]]:
    """``{shard file name: refs sorted by key}``; raises on duplicate keys."""
    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    by_split: dict[str, list[ClipRef]] = defaultdict(list)
    seen: dict[str, str] = {}
    for ref in refs:
        if ref.key in seen:
            raise ValueError(f"duplicate clip key {ref.key!r}: {seen[ref.key]} and {ref.source}")
        seen[ref.key] = ref.source
        if ref.split not in by_split:
            try:
                check_split(ref.split)  # it becomes part of shard file names
            except ShardFormatError as e:
                raise ShardFormatError(f"clip {ref.source}: {e} (check --split-file)") from None
        by_split[ref.split].append(ref)
    plan: dict[str, list[ClipRef]] = {}
    for split in sorted(by_split):
        ordered = sorted(by_split[split], key=lambda r: hashlib.sha1(r.key.encode()).hexdigest())
        for i in range(0, len(ordered), shard_size):
            chunk = sorted(ordered[i : i + shard_size], key=lambda r: r.key)
            plan[shard_name(split, i // shard_size)] = chunk
    return plan


def ref_to_json(ref: ClipRef) -> str:
    return json.dumps(dataclasses.asdict(ref), sort_keys=True)


def ref_from_json(line: str) -> ClipRef:
    d = json.loads(line)
    d["images"] = tuple(d.get("images") or ())
    if d.get("error") is not None:  # {"reason": ..., "detail": ...}
        d["error"] = ClipError(**d["error"])
    return ClipRef(**d)
