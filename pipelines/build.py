"""``avprep build`` as an Apache Beam pipeline: discover -> plan -> build shards -> manifest.

Shape of the job (the same on DirectRunner, Dask, Dataflow, Flink, Spark; pipelines/runners.py)::

    Create(pending shard names) | Reshuffle | ParDo(BuildShard) | ToList | Map(finalize)

- Discovery and planning run in the driver (cheap: no media is opened) and write
  one plan file per shard under ``OUT/_plan/``; the job graph carries only shard
  names, so it stays small for a million-clip corpus.
- ``BuildShard`` loads models once per worker (``setup``), decodes and processes
  the shard's clips one at a time (memory holds one clip), streams samples into
  ``shards/<name>.tar.tmp-<uuid>`` (:mod:`avprep.storage`, so ``gs://`` works)
  and renames it into place only when complete. Its manifest rows go to
  ``_parts/<name>.parquet`` first; a shard counts as done when both exist.
- ``finalize`` merges every shard's rows (done now or by an earlier run) into
  ``manifest.parquet`` and writes ``build.json``.

This module holds the Beam graph and the run around it; what each node does is plain Python
in :mod:`pipelines.build_steps`, the build folder's ownership and lock in
:mod:`pipelines.build_folder`. A local build with one worker and no Beam options runs the same
steps in-process without importing Beam (:mod:`pipelines.local`): same bytes, same resume,
~1.1 s less start-up. Beam is imported here only when a Beam runner runs.

Resume: re-running the same build skips shards already done and redoes the rest;
the result equals an uninterrupted build. A build whose configuration or clip
list changed refuses to resume into the same folder (``--overwrite`` starts over).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from avprep import storage
from avprep.clip_processor import ClipProcessor
from avprep.config import BuildConfig
from pipelines.build_folder import BuildLock, check_out_folder, temp_files
from pipelines.build_steps import (
    BuildResult,
    PipelineOptionsError,
    ProgressWatcher,
    SetupError,
    finalize,
    installed_beam_version,
    output_write_error,
    pending_clips,
    prepare,
    read_build_info,
    write_build_report,
)
from pipelines.local import run_in_process, runs_in_process

if TYPE_CHECKING:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines import runners

log = logging.getLogger(__name__)


def pipeline_options(beam_args: list[str], workers: int | None) -> PipelineOptions:
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from pipelines import runners

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
    (see pipelines/runners.py); needed when the runner's workers may run on other machines.

    A local build with one worker and no Beam options runs in-process, without Beam
    (pipelines/local.py; ``--runner=inprocess`` asks for it, ``--runner=DirectRunner`` for Beam)."""
    beam_args = list(beam_args or [])
    if runs_in_process(config, beam_args, workers):
        return run_in_process(config, overwrite, on_progress, report)
    from apache_beam.options.pipeline_options import StandardOptions, TestOptions

    from pipelines import runners

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
    import apache_beam as beam
    from apache_beam.options.pipeline_options import StandardOptions

    from pipelines import runners
    from pipelines.beam_shard import BuildShard

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
    versions["apache_beam"] = installed_beam_version()
    p = beam.Pipeline(options=opts)
    (
        p
        | "PendingShards" >> beam.Create(pending)
        | "Spread" >> beam.Reshuffle()
        | "BuildShard" >> beam.ParDo(BuildShard(config.to_dict(), driver, token))
        | "AllShards" >> beam.combiners.ToList()
        | "Finalize" >> beam.Map(finalize, config.to_dict(), shards, versions)
    )
    total = pending_clips(config.out, pending)
    # progress files live in the build folder: any runner whose workers write a file --out
    watcher = ProgressWatcher(config.out, pending, total, on_progress)
    watcher.start()
    pipeline_result = None
    try:
        pipeline_result = p.run()
        if pipeline_result is not None:
            pipeline_result.wait_until_finish()
    except Exception as e:
        no_room = output_write_error(e)
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
        storage.delete(temp_files(config.out, shards))
    info = None if dry_run else read_build_info(config.out)
    result = BuildResult(config.out, info, len(shards), len(shards) - len(pending), pipeline_result)
    if pipeline_result is not None and not dry_run:
        with contextlib.suppress(Exception):  # not every runner reports metrics back
            for c in pipeline_result.metrics().query()["counters"]:
                result.counters[c.key.metric.name] = c.committed
    if dry_run:
        result.messages.append(f"dry run: the {runner} job was built and validated, not submitted")
    return result
