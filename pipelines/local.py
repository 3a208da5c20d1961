"""A small local build run in this process, without Apache Beam.

Beam costs a one-clip build about 1.1 s of CPU before any clip is built (most of it the ~0.9 s
import; then translating and starting the job on DirectRunner), for nothing a single local
process needs. So ``avprep build`` with one worker, a local ``--out`` and no Beam options (the
usual small build, every test, every retry) runs here instead: the same steps in the same order
as the Beam job (:mod:`pipelines.build_steps`: ``prepare`` -> ``build_shard`` per pending shard
-> ``finalize``), under the same build lock and ``--overwrite`` record, so it writes the same
bytes and resumes the same way. ``--runner=inprocess`` asks for this path explicitly (also for
an object-store ``--out``); ``--runner=DirectRunner`` (or any Beam option, or ``--workers N``)
keeps Beam. Nothing here imports Beam.

Departure from DESIGN.md (local runner: DirectRunner): the one-process case skips Beam because
Beam adds nothing there but start-up; everything with parallelism or a cluster stays on Beam.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from avprep import storage
from avprep.clip_processor import ClipProcessor
from avprep.config import BuildConfig
from pipelines.build_folder import BuildLock, check_out_folder, temp_files
from pipelines.build_steps import (
    BuildResult,
    PipelineOptionsError,
    ProgressWatcher,
    SetupError,
    build_shard,
    finalize,
    installed_beam_version,
    output_write_error,
    pending_clips,
    prepare,
    read_build_info,
    worker_processor,
    write_build_report,
)

RUNNER_NAMES = ("inprocess", "in-process", "in_process")


def _runner_arg(beam_args: list[str]) -> str | None:
    for i, arg in enumerate(beam_args):
        if arg.startswith("--runner="):
            return arg.split("=", 1)[1]
        if arg == "--runner" and i + 1 < len(beam_args):
            return beam_args[i + 1]
    return None


def runs_in_process(config: BuildConfig, beam_args: list[str], workers: int | None) -> bool:
    """Whether this build runs in-process (module docstring). An explicit
    ``--runner=inprocess`` with Beam options or several workers is refused (they would be
    silently ignored)."""
    runner = _runner_arg(beam_args)
    if runner is not None and runner.lower() in RUNNER_NAMES:
        others = [a for a in beam_args if a != runner and not a.startswith("--runner")]
        if others:
            raise PipelineOptionsError(
                f"--runner={runner} runs the build in this process and takes no Beam options "
                f"(got {' '.join(others)}); drop them or choose a Beam runner"
            )
        if workers and workers > 1:
            raise PipelineOptionsError(
                f"--runner={runner} runs one process; for --workers {workers} leave the runner "
                "out (DirectRunner) or use --runner=DaskRunner"
            )
        return True
    return not beam_args and (workers or 1) == 1 and not storage.is_remote(config.out)


def run_in_process(
    config: BuildConfig,
    overwrite: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    report: bool = True,
) -> BuildResult:
    """``run_build`` for one local process (module docstring); same checks, same outputs."""
    processor = ClipProcessor(config)
    try:
        processor.preflight()  # model files and tools, before anything is written
    except (FileNotFoundError, RuntimeError, ImportError) as e:
        raise SetupError(str(e)) from e
    check_out_folder(config.root, config.out)
    with BuildLock(config.out):
        result = _run_locked(config, overwrite, on_progress, processor)
        if report and result.info is not None:
            result.report = write_build_report(config.out)
    return result


def _run_locked(
    config: BuildConfig,
    overwrite: bool,
    on_progress: Callable[[int, int], None] | None,
    processor: ClipProcessor,
) -> BuildResult:
    shards, pending = prepare(config, overwrite)
    versions = processor.versions()
    versions["apache_beam"] = installed_beam_version()
    counts: Counter[str] = Counter()

    def count(row: dict[str, Any]) -> None:  # the Beam DoFn's metrics, as plain counts
        if row["status"] == "ok":
            counts["clips_ok"] += 1
        else:
            counts["clips_rejected"] += 1
            counts[f"rejected_{row['reason']}"] += 1

    watcher = ProgressWatcher(config.out, pending, pending_clips(config.out, pending), on_progress)
    watcher.start()
    done = []
    try:
        # the models load only when there is a clip to build, once (as a Beam worker's setup)
        worker = worker_processor(config.to_dict()) if pending else None
        for shard in pending:
            n_ok, n_rejected = build_shard(config, worker, shard, count)
            counts["shards_written"] += 1
            done.append((shard, n_ok, n_rejected))
        finalize(done, config.to_dict(), shards, versions)
    except Exception as e:
        no_room = output_write_error(e)
        if no_room is not None and no_room is not e:
            raise no_room from None
        raise
    finally:
        watcher.stop()
    storage.delete(temp_files(config.out, shards))  # temp files of a run killed before
    result = BuildResult(
        config.out, read_build_info(config.out), len(shards), len(shards) - len(pending)
    )
    result.counters = dict(counts)
    return result
