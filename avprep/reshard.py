"""A compact copy of a build holding only the selected clips (``select-samples --reshard``).

Training can read the original shards with a selection file (the reader skips
unselected keys); this module is for users who would rather ship or stream a
smaller dataset. Samples are copied byte for byte, in the source order (split,
source shard, position), into fresh shards named with :func:`avprep.shards.shard_name`;
each local shard appears only once complete (temp file, then rename). The output
folder gets its own ``manifest.parquet`` (the selected rows, ``shard`` pointing at
the new files) and a ``reshard.json`` saying where it came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from avprep import storage
from avprep.build_layout import RESHARD_INFO, BuildLayout
from avprep.selection import load_selected_keys
from avprep.shards import (
    ShardFormatError,
    check_shard_name,
    check_split,
    iter_shard,
    shard_name,
    write_shard,
)


@dataclass
class ReshardResult:
    out_dir: str
    samples: int
    shards: list[str] = field(default_factory=list)  # shard file names under out_dir/shards
    manifest: str = ""


def _prepare_out_dir(build_dir: str, out_dir: str) -> None:
    """Refuse to overwrite the source or a folder that is not an earlier reshard output;
    remove the stale shards of an earlier reshard so no old file lingers."""
    if not storage.is_remote(out_dir) and not storage.is_remote(build_dir):
        if os.path.realpath(out_dir) == os.path.realpath(build_dir):
            raise ValueError("--reshard OUT must differ from the build folder it reads")
    out = BuildLayout(out_dir)
    if storage.list_names(out_dir):
        if not storage.exists(out.reshard_info):
            raise FileExistsError(
                f"{out_dir} exists and is not an earlier reshard output (no {RESHARD_INFO}); "
                "choose an empty or new folder"
            )
        storage.delete(
            out.shard(n) for n in storage.list_names(out.shards_dir) if n.endswith(".tar")
        )
    storage.makedirs(out.shards_dir)


def _selected_rows(manifest: pa.Table, selected: set[str]) -> pa.Table:
    mask = pc.and_(
        pc.equal(manifest["status"], "ok"),
        pc.is_in(manifest["key"], value_set=pa.array(sorted(selected), type=pa.string())),
    )
    rows = manifest.filter(mask)
    found = set(rows["key"].to_pylist())
    if len(found) != len(selected):
        missing = sorted(selected - found)
        raise ValueError(
            f"{len(missing)} selected keys are not ok clips of this build's manifest "
            f"(e.g. {missing[:3]}): was the selection made from another build?"
        )
    if rows["shard"].null_count:
        raise ValueError("selected ok clips without a shard in the manifest")
    # split and shard values become file paths (new shard names, source shards to open)
    for key, split, shard in zip(
        rows["key"].to_pylist(), rows["split"].to_pylist(), rows["shard"].to_pylist(), strict=True
    ):
        try:
            check_split(split)
            check_shard_name(shard)
        except ShardFormatError as e:
            raise ShardFormatError(f"manifest row {key!r}: {e}") from None
    return rows.sort_by([("split", "ascending"), ("shard", "ascending"), ("key", "ascending")])


def _source_samples(build_dir: str, rows: pa.Table) -> Iterator[tuple[str, str, dict[str, bytes]]]:
    """(split, key, fields) of the selected samples, reading each needed shard once."""
    wanted: dict[str, tuple[str, set[str]]] = {}
    for key, split, shard in zip(
        rows["key"].to_pylist(), rows["split"].to_pylist(), rows["shard"].to_pylist(), strict=True
    ):
        wanted.setdefault(shard, (split, set()))[1].add(key)
    layout = BuildLayout(build_dir)
    for shard in sorted(wanted, key=lambda s: (wanted[s][0], s)):
        split, keys = wanted[shard]
        seen = 0
        with storage.open_binary(layout.shard(shard)) as f:
            try:
                for key, fields in iter_shard(f):
                    if key in keys:
                        seen += 1
                        yield split, key, fields
            except ShardFormatError as e:
                raise ShardFormatError(f"shard {shard}: {e}") from None
        if seen != len(keys):
            raise ValueError(
                f"shard {shard} holds {seen} of the {len(keys)} selected samples the manifest "
                "places there: the build folder is incomplete or changed"
            )


def reshard(
    build_dir: str | os.PathLike,
    selection_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    samples_per_shard: int = 1000,
) -> ReshardResult:
    """Copy the selected samples of ``build_dir`` into ``out_dir/shards/{split}-NNNNNN.tar``
    (``samples_per_shard`` per file) and write ``out_dir/manifest.parquet``."""
    if samples_per_shard < 1:
        raise ValueError("samples_per_shard must be >= 1")
    build, out = os.fspath(build_dir), os.fspath(out_dir)
    selected = load_selected_keys(selection_path)
    source, target = BuildLayout(build), BuildLayout(out)
    with storage.open_binary(source.manifest) as f:
        manifest = pq.read_table(f)
    rows = _selected_rows(manifest, selected)
    _prepare_out_dir(build, out)

    new_shard: dict[str, str] = {}
    written: list[str] = []
    buffer: list[tuple[str, dict[str, bytes]]] = []
    counters: dict[str, int] = {}

    def flush(split: str) -> None:
        if not buffer:
            return
        name = shard_name(split, counters.get(split, 0))
        counters[split] = counters.get(split, 0) + 1
        batch = list(buffer)
        with storage.atomic_write(target.shard(name)) as f:
            write_shard(f, batch)
        for key, _ in batch:
            new_shard[key] = name
        written.append(name)
        buffer.clear()

    current_split: str | None = None
    for split, key, fields in _source_samples(build, rows):
        if split != current_split:
            if current_split is not None:
                flush(current_split)
            current_split = split
        buffer.append((key, fields))
        if len(buffer) >= samples_per_shard:
            flush(split)
    if current_split is not None:
        flush(current_split)

    shard_col = pa.array([new_shard[k] for k in rows["key"].to_pylist()], type=pa.string())
    idx = rows.schema.get_field_index("shard")
    out_rows = rows.set_column(idx, pa.field("shard", pa.string()), shard_col)
    out_rows = out_rows.sort_by([("shard", "ascending"), ("key", "ascending")])
    manifest_path = target.manifest
    with storage.atomic_write(manifest_path) as f:
        pq.write_table(out_rows, f)

    source_build = None
    if storage.exists(source.build_info):
        source_build = json.loads(storage.read_bytes(source.build_info))
    info = {
        "source_build_dir": build,
        "selection": os.fspath(selection_path),
        "samples": len(new_shard),
        "samples_per_shard": samples_per_shard,
        "shards": written,
        "source_build": source_build,
    }
    storage.write_text(target.reshard_info, json.dumps(info, indent=2) + "\n")
    return ReshardResult(
        out_dir=out, samples=len(new_shard), shards=written, manifest=manifest_path
    )


def reshard_summary(result: ReshardResult) -> str:
    """The line the CLI prints after ``--reshard``."""
    return (
        f"wrote {result.samples} selected samples into {len(result.shards)} shards under "
        f"{BuildLayout(result.out_dir).shards_dir} (manifest: {result.manifest})"
    )
