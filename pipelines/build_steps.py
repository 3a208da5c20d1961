"""The steps of ``avprep build`` as plain Python: what the Beam graph (``pipelines/build.py``)
runs in the driver and at each node, testable and reusable without Beam.

- :func:`prepare` (driver): discover, plan, check or record the build's state
  (``_state.json``), write one plan file per shard, find the shards still to do.
- :func:`build_shard` (a worker, one shard): every clip of the shard's plan through the
  :class:`~avprep.clip_processor.ClipProcessor`, samples streamed into ``shards/<name>.tar`` (an
  atomic write: the tar appears under its name only after its manifest rows are in
  ``_parts/<name>.parquet``, so "both exist" means "done").
- :func:`finalize` (once, last): every shard's rows into ``manifest.parquet``, and
  ``build.json``.
- progress: one line per finished clip in ``_progress/<shard>.log`` (local builds), polled
  by :class:`ProgressWatcher` for the driver's progress bar.
- a full disk (``ENOSPC``, quota, file size limit) anywhere in a build becomes one
  :class:`OutputWriteError` whose message says to free space and rerun.

Names inside the build folder come from :class:`avprep.build_layout.BuildLayout`; every read
and write goes through :mod:`avprep.storage`.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import avprep
from avprep import storage
from avprep.build_layout import BuildLayout
from avprep.clip_processor import ClipProcessor
from avprep.config import BuildConfig
from avprep.datasets import DiscoverOptions, get_adapter
from avprep.plan import plan_shards, ref_from_json, ref_to_json
from avprep.schema import manifest_table
from avprep.shards import ShardWriter
from pipelines.build_folder import remove_recorded_outputs, temp_files

log = logging.getLogger(__name__)


class BuildMismatchError(RuntimeError):
    """OUT holds a different build (other config or clip list)."""


class SetupError(RuntimeError):
    """A stage cannot start here (missing model file, missing executable)."""


class OutputWriteError(OSError):
    """The build folder cannot take a write (disk full, quota, file size limit)."""


@dataclass
class BuildResult:
    out: str
    info: dict[str, Any] | None  # build.json content (None for a job not run here, e.g. dry_run)
    shards_total: int
    shards_skipped: int
    pipeline_result: Any = None
    messages: list[str] = field(default_factory=list)
    report: str | None = None  # OUT/report.html when written
    counters: dict[str, int] = field(default_factory=dict)  # clips_ok, shards_written, ...


def installed_beam_version() -> str:
    """Beam's version as installed, read without importing Beam: build.json records it for
    every build, in-process ones too, so the file does not depend on the execution path."""
    from importlib.metadata import version

    return version("apache-beam")


class PipelineOptionsError(ValueError):
    """Beam (or the in-process runner) refused the pipeline options passed through the CLI."""


# errno values that mean "no room": the user frees space and reruns
NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NO_ROOM_MESSAGE = re.compile(r"could not write .*?the build resumes\.")


def no_room(path: str, e: OSError) -> OutputWriteError:
    return OutputWriteError(
        e.errno,
        f"could not write {path}: {e.strerror or e}. Free space (or raise the quota or file "
        "size limit) and rerun the same command: finished shards are kept and the build resumes.",
    )


def output_write_error(e: BaseException) -> OutputWriteError | None:
    """The :class:`OutputWriteError` inside whatever a runner wrapped it in (Beam re-raises a
    worker's exception as text inside its own), else None."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, OutputWriteError):
            return seen
        if isinstance(seen, OSError) and seen.errno in NO_ROOM:
            return no_room(getattr(seen, "filename", None) or "a build file", seen)
        seen = seen.__cause__ or seen.__context__
    found = _NO_ROOM_MESSAGE.search(str(e))
    return OutputWriteError(errno.ENOSPC, found[0]) if found else None


def _write(path: str, data: bytes) -> None:
    """:func:`avprep.storage.write_bytes`, a full disk named as :class:`OutputWriteError`."""
    try:
        storage.write_bytes(path, data)
    except OSError as e:
        if e.errno in NO_ROOM and not isinstance(e, OutputWriteError):
            raise no_room(path, e) from e
        raise


def is_done(layout: BuildLayout, shard: str) -> bool:
    return storage.exists(layout.shard(shard)) and storage.exists(layout.part(shard))


def read_plan(layout: BuildLayout, shard: str) -> list[str]:
    """The JSON lines of a shard's plan file (one clip each)."""
    text = storage.read_bytes(layout.plan(shard)).decode()
    return [line for line in text.splitlines() if line.strip()]


# --------------------------------------------------------------------------- driver: prepare


def plan_fingerprint(plan: dict[str, list]) -> str:
    h = hashlib.sha256()
    for shard, refs in plan.items():
        h.update(shard.encode())
        for ref in refs:
            h.update(ref_to_json(ref).encode())
    return h.hexdigest()[:16]


def prepare(config: BuildConfig, overwrite: bool = False) -> tuple[list[str], list[str]]:
    """Discover, plan, check/record the build state, write plan files.

    Returns (all shard names, pending shard names)."""
    adapter = get_adapter(config.dataset)
    options = DiscoverOptions(
        limit=config.limit,
        splits=config.splits,
        speakers=config.speakers,
        transcripts=config.transcripts,
        extra=dict(config.discover_options),
    )
    refs = list(adapter.iter_clips(config.root, options))
    plan = plan_shards(refs, config.shard_size)
    state = {"fingerprint": config.fingerprint(), "plan": plan_fingerprint(plan)}
    out = config.out
    layout = BuildLayout(out)
    storage.makedirs(out)
    if storage.exists(layout.state) and not overwrite:
        old = json.loads(storage.read_bytes(layout.state))
        if {k: old.get(k) for k in state} != state:
            what = (
                "configuration" if old.get("fingerprint") != state["fingerprint"] else "clip list"
            )
            raise BuildMismatchError(
                f"{out} holds a build with a different {what}; resuming would mix two builds. "
                "Use another --out, or --overwrite to start this one over."
            )
    if overwrite:
        remove_recorded_outputs(out)
    shards = list(plan)
    # the record of what this build writes (what --overwrite may delete), before writing it
    _write(layout.state, json.dumps({**state, "shards": shards}).encode())
    for folder in (layout.plan_dir, layout.parts_dir, layout.shards_dir):
        storage.makedirs(folder)
    for shard, shard_refs in plan.items():
        path = layout.plan(shard)
        text = "".join(ref_to_json(r) + "\n" for r in shard_refs).encode()
        if not storage.exists(path) or storage.read_bytes(path) != text:
            _write(path, text)
    # half-written files of a killed run (the lock is ours)
    storage.delete(temp_files(out, shards))
    pending = [s for s in shards if not is_done(layout, s)]
    return shards, pending


# --------------------------------------------------------------------------- worker: one shard

_processors = threading.local()


def worker_processor(config: dict[str, Any]) -> ClipProcessor:
    """One set-up ClipProcessor per worker thread and configuration. Beam's Dask runner calls
    ``DoFn.setup`` once per partition (= per shard), not per worker: models load once here."""
    key = json.dumps(config, sort_keys=True, default=str)
    cache = getattr(_processors, "by_config", None)
    if cache is None:
        cache = _processors.by_config = {}
    if key not in cache:
        processor = ClipProcessor(BuildConfig.from_dict(config))
        processor.setup()
        cache.clear()  # one configuration at a time per thread: bounded memory
        cache[key] = processor
    return cache[key]


def build_shard(
    config: BuildConfig,
    processor: ClipProcessor,
    shard: str,
    on_clip: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[int, int]:
    """Every clip of ``shard``'s plan -> ``shards/<shard>`` and ``_parts/<shard>.parquet``;
    ``on_clip(row)`` after each clip. Returns (ok, rejected) counts."""
    layout = BuildLayout(config.out)
    refs = [ref_from_json(line) for line in read_plan(layout, shard)]
    progress = ProgressFile(layout, shard)
    rows: list[dict[str, Any]] = []
    final = layout.shard(shard)
    try:
        with storage.atomic_write(final) as f:
            with ShardWriter(f) as writer:
                batch = config.align_batch  # plan order is key order, kept here
                for ref, (row, fields) in zip(
                    refs, processor.process_many(refs, batch), strict=True
                ):
                    if fields is not None:
                        row["shard"] = shard
                        writer.add(ref.key, fields)
                    rows.append(row)
                    if on_clip is not None:
                        on_clip(row)
                    progress.tick()
            buf = io.BytesIO()
            pq.write_table(manifest_table(rows), buf)
            _write(layout.part(shard), buf.getvalue())  # before the tar takes its name
    except OSError as e:
        if e.errno in NO_ROOM and not isinstance(e, OutputWriteError):
            raise no_room(final, e) from e
        raise
    n_ok = sum(r["status"] == "ok" for r in rows)
    return n_ok, len(rows) - n_ok


# --------------------------------------------------------------------------- last: finalize


def build_info(
    config: BuildConfig, table: pa.Table, shards: list[str], versions: dict[str, str]
) -> dict[str, Any]:
    """``build.json``'s content for a manifest ``table``."""
    status = Counter(table.column("status").to_pylist())
    reasons = Counter(r for r in table.column("reason").to_pylist() if r)
    by_split = Counter(
        s
        for s, st in zip(
            table.column("split").to_pylist(), table.column("status").to_pylist(), strict=True
        )
        if st == "ok"
    )
    label_rows = list(
        zip(
            table.column("label_source").to_pylist(),
            table.column("label_confidence").to_pylist(),
            strict=True,
        )
    )
    sources = Counter(src for src, _ in label_rows if src)
    recognized_conf = sorted(c for src, c in label_rows if src == "recognized" and c is not None)
    return {
        "avprep_version": avprep.__version__,
        "config": config.to_dict(),
        "fingerprint": config.fingerprint(),
        "versions": versions,
        "counts": {
            "discovered": table.num_rows,
            "ok": status.get("ok", 0),
            "rejected": status.get("rejected", 0),
            "rejected_by_reason": dict(sorted(reasons.items())),
            "ok_by_split": dict(sorted(by_split.items())),
            "shards": len(shards),
            "labels_by_source": dict(sorted(sources.items())),
            "recognized_confidence_median": (
                round(float(recognized_conf[len(recognized_conf) // 2]), 4)
                if recognized_conf
                else None
            ),
        },
        "shards": shards,
    }


def finalize(
    _done: list[tuple[str, int, int]],  # every BuildShard result: makes this run last
    config: dict[str, Any],
    shards: list[str],
    versions: dict[str, str],
) -> dict[str, Any]:
    """Merge every shard's rows into manifest.parquet and write build.json."""
    cfg = BuildConfig.from_dict(config)
    layout = BuildLayout(cfg.out)
    tables = [pq.read_table(io.BytesIO(storage.read_bytes(layout.part(s)))) for s in shards]
    table = pa.concat_tables(tables) if tables else manifest_table([])
    table = table.sort_by("key")
    buf = io.BytesIO()
    pq.write_table(table, buf)
    _write(layout.manifest, buf.getvalue())
    info = build_info(cfg, table, shards, versions)
    _write(layout.build_info, json.dumps(info, indent=2, sort_keys=True).encode())
    return info


def read_build_info(out: str) -> dict[str, Any] | None:
    """``build.json`` of a finished build, or None."""
    path = BuildLayout(out).build_info
    return json.loads(storage.read_bytes(path)) if storage.exists(path) else None


def write_build_report(out: str) -> str | None:
    """OUT/report.html (``avprep report``). Never fails a finished build: an error is logged."""
    try:
        from avprep.report import write_report

        return write_report(out).path
    except Exception as e:  # noqa: BLE001 - the shards and manifest are done; the page is extra
        log.warning("report.html not written (%s: %s); retry with `avprep report %s`",
                    type(e).__name__, e, out)  # fmt: skip
        return None


# --------------------------------------------------------------------------- progress


class ProgressFile:
    """One line per finished clip in OUT/_progress/<shard>.log (local builds only),
    read by the driver's progress bar; multi-process workers share the folder."""

    def __init__(self, layout: BuildLayout, shard: str) -> None:
        self.path = None
        if not storage.is_remote(layout.root):
            storage.makedirs(layout.progress_dir)
            self.path = layout.progress(shard)
            open(self.path, "w").close()

    def tick(self) -> None:
        if self.path:
            with open(self.path, "a") as f:
                f.write(".\n")


def pending_clips(out: str, pending: list[str]) -> int:
    layout = BuildLayout(out)
    return sum(len(read_plan(layout, shard)) for shard in pending)


class ProgressWatcher:
    """Polls the per-shard progress files of a local build and reports (done, total)."""

    def __init__(
        self,
        out: str,
        pending: list[str],
        total: int,
        callback: Callable[[int, int], None] | None,
        interval: float = 0.5,
    ) -> None:
        self.callback = callback
        self.total = total
        self.interval = interval
        self.paths: list[str] = []
        if not storage.is_remote(out):
            layout = BuildLayout(out)
            self.paths = [layout.progress(s) for s in pending]
            storage.delete(self.paths)  # stale counts from an interrupted run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self) -> int:
        n = 0
        for path in self.paths:
            try:
                n += os.path.getsize(path) // 2
            except OSError:
                pass
        return n

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.callback(self.count(), self.total)

    def start(self) -> None:
        if self.callback and self.paths:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.callback and self.paths:
            self.callback(self.count(), self.total)
