"""Human-readable summary of a build folder: what ``avprep inspect`` prints."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pyarrow.parquet as pq

from avprep import sample_format as fmt
from avprep import storage
from avprep.build_layout import BuildLayout
from avprep.shards import iter_shard


def _describe_field(name: str, data: bytes) -> str:
    if fmt.is_array_member(name):
        arr = np.load(io.BytesIO(data), allow_pickle=False)
        return f"{name}: {arr.dtype} {tuple(arr.shape)}"
    return f"{name}: {len(data):,} bytes"


def describe_build(build_dir: str, n_samples: int = 1) -> str:
    """Counts, rejections and the first ``n_samples`` samples of a finished build; a folder
    without build.json and manifest.parquet (no build, or one still running) is a
    FileNotFoundError that says so."""
    layout = BuildLayout(build_dir)
    for path in (layout.build_info, layout.manifest):
        if not storage.exists(path):
            raise FileNotFoundError(
                f"{path} not found: not a finished avprep build (run `avprep build` first)"
            )
    info = json.loads(storage.read_text(layout.build_info))
    with storage.open_binary(layout.manifest) as f:
        table = pq.read_table(f)
    rows = table.to_pylist()
    lines = [f"build {build_dir}", f"  dataset {info['config']['dataset']}  avprep "
             f"{info['avprep_version']}  shards {info['counts']['shards']}"]
    status = Counter(r["status"] for r in rows)
    lines.append(f"  clips {len(rows)}: {status.get('ok', 0)} ok, "
                 f"{status.get('rejected', 0)} rejected")
    for (reason, detail), n in Counter(
        (r["reason"], (r["detail"] or "")[:90]) for r in rows if r["status"] == "rejected"
    ).most_common(10):
        lines.append(f"    {n} x {reason}: {detail}")
    shown = 0
    for shard in info["shards"]:
        if shown >= n_samples:
            break
        with storage.open_binary(layout.shard(shard)) as f:
            for key, fields in iter_shard(f):
                meta = json.loads(fields[fmt.META])
                lines.append(f"  sample {key} ({shard}): {meta['n_frames']} frames, "
                             f"{meta['duration']:.2f} s, transcript {meta.get('transcript')!r}")
                images = [n for n in fields if fmt.is_image_member(n)]
                others = sorted(n for n in fields if n not in images)
                if images:
                    lines.append(f"    {len(images)} image members ({sorted(images)[0]} ...)")
                lines += [f"    {_describe_field(n, fields[n])}" for n in others]
                shown += 1
                if shown >= n_samples:
                    break
    return "\n".join(lines)
