"""``avprep build`` as an Apache Beam pipeline: discover -> plan -> build shards -> manifest.

Shape of the job (the same on DirectRunner, Dask, Dataflow, Flink, Spark; pipelines/runners.py)::

    Create(pending shard names) | Reshuffle | ParDo(BuildShard) | ToList | Map(finalize)

- Discovery and planning run in the driver (cheap: no media is opened) and write
  one plan file per shard under ``OUT/_plan/``; the job graph carries only shard
  names, so it stays small for a million-clip corpus.
- ``BuildShard`` loads models once per worker (``setup``), decodes and processes
  the shard's clips one at a time (memory holds one clip), streams samples into
  ``shards/<name>.tar.tmp-<uuid>`` through Beam's FileSystems (so ``gs://`` works)
  and renames it into place only when complete. Its manifest rows go to
  ``_parts/<name>.parquet`` first; a shard counts as done when both exist.
- ``finalize`` merges every shard's rows (done now or by an earlier run) into
  ``manifest.parquet`` and writes ``build.json``.

Resume: re-running the same build skips shards already done and redoes the rest;
the result equals an uninterrupted build. A build whose configuration or clip
list changed refuses to resume into the same folder (``--overwrite`` starts over).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

import avprep
from avprep import storage
from avprep.build_config import BuildConfig
from avprep.datasets import DiscoverOptions, get_adapter
from avprep.plan import plan_shards, ref_from_json, ref_to_json
from avprep.samples import ClipProcessor
from avprep.schema import manifest_table
from avprep.shards import ShardWriter
from pipelines import runners
from pipelines.build_folder import (
    PARTS_DIR,
    PLAN_DIR,
    PROGRESS_DIR,
    SHARDS_DIR,
    STATE_FILE,
    BuildLock,
    check_out_folder,
    remove_recorded_outputs,
    temp_files,
)

log = logging.getLogger(__name__)


class BuildMismatchError(RuntimeError):
    """OUT holds a different build (other config or clip list)."""


class SetupError(RuntimeError):
    """A stage cannot start here (missing model file, missing executable)."""


class OutputWriteError(OSError):
    """The build folder cannot take a write (disk full, quota, file size limit)."""


# errno values that mean "no room": the user frees space and reruns
NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NO_ROOM_MESSAGE = re.compile(r"could not write .*?the build resumes\.")


def _no_room(path: str, e: OSError) -> OutputWriteError:
    return OutputWriteError(
        e.errno,
        f"could not write {path}: {e.strerror or e}. Free space (or raise the quota or file "
        "size limit) and rerun the same command: finished shards are kept and the build resumes.",
    )


def _output_write_error(e: BaseException) -> OutputWriteError | None:
    """The :class:`OutputWriteError` inside whatever a runner wrapped it in (Beam re-raises a
    worker's exception as text inside its own), else None."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, OutputWriteError):
            return seen
        if isinstance(seen, OSError) and seen.errno in NO_ROOM:
            return _no_room(getattr(seen, "filename", None) or "a build file", seen)
        seen = seen.__cause__ or seen.__context__
    found = _NO_ROOM_MESSAGE.search(str(e))
    return OutputWriteError(errno.ENOSPC, found[0]) if found else None


def _join(*parts: str) -> str:
    return FileSystems.join(*parts)


def _write_bytes(path: str, data: bytes) -> None:
    """Write atomically: a temp name, then a rename (so readers never see half a file)."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        with FileSystems.create(tmp) as f:
            f.write(data)
    except OSError as e:
        if e.errno in NO_ROOM:
            raise _no_room(path, e) from e
        raise
    FileSystems.rename([tmp], [path])


def _read_bytes(path: str) -> bytes:
    with FileSystems.open(path) as f:
        return f.read()


def _mkdirs(path: str) -> None:
    if not storage.is_remote(path):
        os.makedirs(path, exist_ok=True)


def _is_done(out: str, shard: str) -> bool:
    return FileSystems.exists(_join(out, SHARDS_DIR, shard)) and FileSystems.exists(
        _join(out, PARTS_DIR, shard.replace(".tar", ".parquet"))
    )


class BuildShard(beam.DoFn):
    """Builds one shard: every clip of its plan file -> tar + manifest rows."""

    def __init__(
        self,
        config: dict[str, Any],
        driver: tuple[int, str] | None = None,
        token: tuple[str, str] | None = None,
    ) -> None:
        self.config_dict = config
        self.driver = driver  # (pid, host) of a local build's driver process
        self.token = token  # (path, value) the driver wrote into a shared --out
        self.processor: ClipProcessor | None = None
        self.ok = Metrics.counter("avprep", "clips_ok")
        self.rejected = Metrics.counter("avprep", "clips_rejected")
        self.shards_done = Metrics.counter("avprep", "shards_written")

    def setup(self) -> None:
        watch_driver(self.driver)
        self.config = BuildConfig.from_dict(self.config_dict)
        runners.check_worker_token(self.config.out, self.token)  # before anything is written
        self.processor = _worker_processor(self.config_dict)

    def start_bundle(self) -> None:
        # a shared --out is checked again per bundle: a worker may have joined the Dask
        # cluster, or a node may have lost its mount, after setup
        runners.check_worker_token(self.config.out, self.token)

    def process(self, shard: str) -> Iterable[tuple[str, int, int]]:
        out = self.config.out
        plan_text = _read_bytes(_join(out, PLAN_DIR, shard.replace(".tar", ".jsonl"))).decode()
        refs = [ref_from_json(line) for line in plan_text.splitlines() if line.strip()]
        progress = _ProgressFile(out, shard)
        rows: list[dict[str, Any]] = []
        final = _join(out, SHARDS_DIR, shard)
        tmp = f"{final}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            with FileSystems.create(tmp) as f, ShardWriter(f) as writer:
                batch = self.config.align_batch  # plan order is key order, kept here
                for ref, (row, fields) in zip(
                    refs, self.processor.process_many(refs, batch), strict=True
                ):
                    if fields is not None:
                        row["shard"] = shard
                        writer.add(ref.key, fields)
                        self.ok.inc()
                    else:
                        self.rejected.inc()
                        Metrics.counter("avprep", f"rejected_{row['reason']}").inc()
                    rows.append(row)
                    progress.tick()
            buf = io.BytesIO()
            pq.write_table(manifest_table(rows), buf)
            _write_bytes(_join(out, PARTS_DIR, shard.replace(".tar", ".parquet")), buf.getvalue())
            FileSystems.rename([tmp], [final])
        except OSError as e:
            if e.errno in NO_ROOM and not isinstance(e, OutputWriteError):
                raise _no_room(tmp, e) from e
            raise
        finally:
            if FileSystems.exists(tmp):
                FileSystems.delete([tmp])
        self.shards_done.inc()
        n_ok = sum(r["status"] == "ok" for r in rows)
        yield shard, n_ok, len(rows) - n_ok


_processors = threading.local()


def _worker_processor(config: dict[str, Any]) -> ClipProcessor:
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


_watching = False


def watch_driver(driver: tuple[int, str] | None, interval: float = 0.5) -> None:
    """In a worker process of a local build (``--workers N``): exit as soon as the driver is
    gone, so a killed build leaves no process running and writing. Beam starts each worker
    through ``sh -c``, so the worker's parent is not the driver: a thread checks that the
    driver's pid is alive and that the worker's parent has not changed (reparenting means the
    shell died with the driver). No-op in the driver's own process and on other machines."""
    global _watching
    if driver is None or _watching:
        return
    pid, host = driver
    if pid == os.getpid() or host != socket.gethostname():
        return
    _watching = True
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                os.kill(pid, 0)
                alive = os.getppid() == parent
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
            if not alive:
                log.error("the build's driver (pid %s) is gone: this worker stops", pid)
                os._exit(1)  # the shard in progress stays a temp file; a rerun redoes it

    threading.Thread(target=watch, name="avprep-driver-watch", daemon=True).start()


class _ProgressFile:
    """One line per finished clip in OUT/_progress/<shard>.log (local builds only),
    read by the driver's progress bar; multi-process workers share the folder."""

    def __init__(self, out: str, shard: str) -> None:
        self.path = None
        if not storage.is_remote(out):
            os.makedirs(os.path.join(out, PROGRESS_DIR), exist_ok=True)
            self.path = os.path.join(out, PROGRESS_DIR, shard.replace(".tar", ".log"))
            open(self.path, "w").close()

    def tick(self) -> None:
        if self.path:
            with open(self.path, "a") as f:
                f.write(".\n")


def finalize(
    _done: list[tuple[str, int, int]],  # every BuildShard result: makes this run last
    config: dict[str, Any],
    shards: list[str],
    versions: dict[str, str],
) -> dict[str, Any]:
    """Merge every shard's rows into manifest.parquet and write build.json."""
    cfg = BuildConfig.from_dict(config)
    tables = []
    for shard in shards:
        part = _join(cfg.out, PARTS_DIR, shard.replace(".tar", ".parquet"))
        tables.append(pq.read_table(io.BytesIO(_read_bytes(part))))
    table = pa.concat_tables(tables) if tables else manifest_table([])
    table = table.sort_by("key")
    buf = io.BytesIO()
    pq.write_table(table, buf)
    _write_bytes(_join(cfg.out, "manifest.parquet"), buf.getvalue())
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
    info = {
        "avprep_version": avprep.__version__,
        "config": cfg.to_dict(),
        "fingerprint": cfg.fingerprint(),
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
    _write_bytes(_join(cfg.out, "build.json"), json.dumps(info, indent=2, sort_keys=True).encode())
    return info


@dataclass
class BuildResult:
    out: str
    info: dict[str, Any] | None  # build.json content (None for a job not run here, e.g. dry_run)
    shards_total: int
    shards_skipped: int
    pipeline_result: Any = None
    messages: list[str] = field(default_factory=list)
    report: str | None = None  # OUT/report.html when written


def pipeline_options(beam_args: list[str], workers: int | None) -> PipelineOptions:
    args = runners.normalize_runner_args(list(beam_args))
    if any(a.endswith(runners.DASK_RUNNER) for a in args):
        runners.dask_options(PipelineOptions([]))  # registers the --dask_* options
        args += runners.dask_partition_args(args)
    elif workers and workers > 1 and not any(a.startswith("--direct_running_mode") for a in args):
        args += [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
    opts = PipelineOptions(args)
    if not opts.view_as(StandardOptions).runner:
        opts.view_as(StandardOptions).runner = "DirectRunner"
    return opts


def _plan_fingerprint(plan: dict[str, list]) -> str:
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
    state = {"fingerprint": config.fingerprint(), "plan": _plan_fingerprint(plan)}
    out = config.out
    _mkdirs(out)
    state_path = _join(out, STATE_FILE)
    if FileSystems.exists(state_path) and not overwrite:
        old = json.loads(_read_bytes(state_path))
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
    _write_bytes(state_path, json.dumps({**state, "shards": shards}).encode())
    for sub in (PLAN_DIR, PARTS_DIR, SHARDS_DIR):
        _mkdirs(_join(out, sub))
    for shard, shard_refs in plan.items():
        path = _join(out, PLAN_DIR, shard.replace(".tar", ".jsonl"))
        text = "".join(ref_to_json(r) + "\n" for r in shard_refs).encode()
        if not FileSystems.exists(path) or _read_bytes(path) != text:
            _write_bytes(path, text)
    stale = temp_files(out, shards)  # half-written files of a killed run (the lock is ours)
    if stale:
        FileSystems.delete(stale)
    pending = [s for s in shards if not _is_done(out, s)]
    return shards, pending


class PipelineOptionsError(ValueError):
    """Beam refused the pipeline options passed through the CLI."""


def run_build(
    config: BuildConfig,
    beam_args: list[str] | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    report: bool = True,
    shared_out: bool = False,
) -> BuildResult:
    """``shared_out``: a local-looking ``--out`` is a mount every worker sees at the same path
    (see pipelines/runners.py); needed when the runner's workers may run on other machines."""
    beam_args = list(beam_args or [])
    try:
        opts = pipeline_options(beam_args, workers)
        runner = opts.view_as(StandardOptions).runner
        dry_run = bool(opts.view_as(TestOptions).dry_run)
        dask_local = runners.is_dask(runner) and not runners.has_dask_cluster(opts)
        where = runners.placement(opts, runner, dask_local)
    except ValueError as e:  # Beam rejects unknown/ill-formed options with ValueError
        raise PipelineOptionsError(str(e)) from e
    local = where.direct
    if not (where.on_this_machine or shared_out or dry_run or storage.is_remote(config.out)):
        raise runners.refuse_unshared_out(config.out, where)
    if runners.is_dask(runner) and not dask_local and workers:
        log.warning("--workers %s ignored: the Dask cluster's own workers run the build", workers)
    processor = ClipProcessor(config)
    # fail fast in the driver, not in every worker, when a model/tool is missing here
    if where.on_this_machine:
        try:
            processor.preflight()  # checks files; the workers load the models once
        except (FileNotFoundError, RuntimeError, ImportError) as e:
            raise SetupError(str(e)) from e
    check_out_folder(config.root, config.out)
    with BuildLock(config.out), contextlib.ExitStack() as stack:
        if dask_local and not dry_run:  # the cluster lives as long as this build
            address = stack.enter_context(runners.local_dask_cluster(workers))
            opts = pipeline_options([*beam_args, f"--dask_client_address={address}"], workers)
        result = _run_locked(
            config, opts, where.runner, local, dry_run, overwrite, on_progress, processor, where
        )
        if report and result.info is not None:
            result.report = write_build_report(config.out)
    return result


def _run_locked(
    config: BuildConfig,
    opts: PipelineOptions,
    runner: str,
    local: bool,
    dry_run: bool,
    overwrite: bool,
    on_progress: Callable[[int, int], None] | None,
    processor: ClipProcessor,
    where: runners.Placement | None = None,
) -> BuildResult:
    shards, pending = prepare(config, overwrite)
    # workers on this machine (DirectRunner's, a local Dask cluster's) stop when the driver dies
    here = where.on_this_machine if where is not None else local
    driver = (os.getpid(), socket.gethostname()) if here else None
    token = None  # workers off the driver's process check that they see this --out
    if not local and not dry_run and not storage.is_remote(config.out):
        token = runners.write_worker_token(config.out)
        if runners.is_dask(opts.view_as(StandardOptions).runner):
            address = runners.dask_options(opts).address
            if address:
                runners.check_dask_workers(address, config.out, token)
    versions = processor.versions()
    versions["apache_beam"] = beam.__version__
    p = beam.Pipeline(options=opts)
    (
        p
        | "PendingShards" >> beam.Create(pending)
        | "Spread" >> beam.Reshuffle()
        | "BuildShard" >> beam.ParDo(BuildShard(config.to_dict(), driver, token))
        | "AllShards" >> beam.combiners.ToList()
        | "Finalize" >> beam.Map(finalize, config.to_dict(), shards, versions)
    )
    total = _pending_clips(config.out, pending)
    # progress files live in the build folder: any runner whose workers write a file --out
    watcher = _ProgressWatcher(config.out, pending, total, on_progress)
    watcher.start()
    pipeline_result = None
    try:
        pipeline_result = p.run()
        if pipeline_result is not None:
            pipeline_result.wait_until_finish()
    except Exception as e:
        no_room = _output_write_error(e)
        if no_room is not None:
            raise no_room from None  # one line the user can act on, not a worker traceback
        not_shared = runners.not_shared_error(e)
        if not_shared is not None:
            raise not_shared from None
        raise
    finally:
        watcher.stop()
        runners.close_runner(pipeline_result)
        runners.remove_worker_token(token)
    if not dry_run:  # temp files of attempts that died with their worker (a retry finished)
        stale = temp_files(config.out, shards)
        if stale:
            FileSystems.delete(stale)
    info = None
    if not dry_run and FileSystems.exists(_join(config.out, "build.json")):
        info = json.loads(_read_bytes(_join(config.out, "build.json")))
    result = BuildResult(config.out, info, len(shards), len(shards) - len(pending), pipeline_result)
    if dry_run:
        result.messages.append(f"dry run: the {runner} job was built and validated, not submitted")
    return result


def write_build_report(out: str) -> str | None:
    """OUT/report.html (``avprep report``). Never fails a finished build: an error is logged."""
    try:
        from avprep.report import write_report

        return write_report(out).path
    except Exception as e:  # noqa: BLE001 - the shards and manifest are done; the page is extra
        log.warning("report.html not written (%s: %s); retry with `avprep report %s`",
                    type(e).__name__, e, out)  # fmt: skip
        return None


def _pending_clips(out: str, pending: list[str]) -> int:
    n = 0
    for shard in pending:
        text = _read_bytes(_join(out, PLAN_DIR, shard.replace(".tar", ".jsonl"))).decode()
        n += sum(1 for line in text.splitlines() if line.strip())
    return n


class _ProgressWatcher:
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
        self.paths = []
        if not storage.is_remote(out):
            self.paths = [
                os.path.join(out, PROGRESS_DIR, s.replace(".tar", ".log")) for s in pending
            ]
            for path in self.paths:  # stale counts from an interrupted run
                if os.path.exists(path):
                    os.remove(path)
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
