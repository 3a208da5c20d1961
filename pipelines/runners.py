"""Where a build's workers run, and what that means for ``--out``.

- :func:`normalize_runner_args`: ``--runner=DaskRunner`` (or ``dask``) by its short name. Beam
  2.77 knows the Dask runner only by its full class path; avprep accepts both.
- :func:`dask_partition_args`: Beam's Dask translation turns ``Create`` into a ``dask.Bag`` of
  128 elements per partition and runs a ``ParDo`` once per partition, so a build's few shard
  names would all land in one partition, on one worker. avprep sets ``--dask_partition_size=1``
  (unless the user chose a partitioning): one shard is one Dask task, the unit of parallel work
  and of retry when a worker dies.
- :func:`local_dask_cluster`: ``--runner=DaskRunner`` without ``--dask_client_address`` or
  ``--dask_scheduler_file`` starts a local cluster of ``--workers N`` single-threaded worker
  processes (default: one per CPU) for the build, and closes it afterwards.
- :class:`Placement` / :func:`placement`: do the workers certainly run on this machine
  (DirectRunner, a local Dask cluster, ``--environment_type=LOOPBACK``, the embedded job
  service with ``PROCESS`` workers), or may they run elsewhere?
- Shared filesystems: a local-looking ``--out`` for workers that may run elsewhere is refused
  unless the user says ``--shared-out`` (the path is a mount every worker sees at the same
  place: NFS, Lustre, GPFS, CephFS). Then the driver writes a random token into the build
  folder (:func:`write_worker_token`) and every worker reads it back before it writes anything
  (:func:`check_worker_token`; on Dask also up front on every connected worker,
  :func:`check_dask_workers`), so a worker never writes a build onto its own local disk.
- :func:`watch_driver`: a worker process of a local build exits when the driver is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions

from avprep import storage
from avprep.build_layout import BuildLayout
from pipelines.build_folder import OutFolderError

log = logging.getLogger(__name__)

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
DIRECT_RUNNERS = ("DirectRunner", "direct", "BundleBasedDirectRunner", "SwitchingDirectRunner")
# the message a worker's error carries; found again in a runner's wrapped error text
_NOT_SHARED = re.compile(
    r"worker on host \S+ cannot see the build folder .*?--shared-out promised\)\."
)


class WorkersCannotSeeOutError(OutFolderError):
    """A worker does not see the build folder the driver wrote (``--out`` is not shared)."""


def normalize_runner_args(args: list[str]) -> list[str]:
    """``--runner=DaskRunner`` / ``--runner dask`` -> Beam's full class path."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--runner" and i + 1 < len(args):
            out += [arg, _runner_path(args[i + 1])]
            i += 2
            continue
        if arg.startswith("--runner="):
            arg = "--runner=" + _runner_path(arg.split("=", 1)[1])
        out.append(arg)
        i += 1
    return out


def _runner_path(name: str) -> str:
    return DASK_RUNNER if name.lower() in ("daskrunner", "dask") else name


def runner_short_name(runner: object) -> str:
    name = runner if isinstance(runner, str) else type(runner).__name__
    return str(name).rsplit(".", 1)[-1]


def is_dask(runner: object) -> bool:
    return runner_short_name(runner) == "DaskRunner"


def dask_options(opts: PipelineOptions):
    from apache_beam.runners.dask.dask_runner import DaskOptions

    return opts.view_as(DaskOptions)


def dask_partition_args(args: list[str]) -> list[str]:
    """One shard per Dask partition (module docstring), unless the user partitions."""
    chosen = any(a.startswith(("--dask_npartitions", "--dask_partition_size")) for a in args)
    return [] if chosen else ["--dask_partition_size=1"]


def has_dask_cluster(opts: PipelineOptions) -> bool:
    d = dask_options(opts)
    return bool(d.address or d.scheduler_file)


@contextlib.contextmanager
def local_dask_cluster(workers: int | None) -> Iterator[str]:
    """A local Dask cluster for one build: ``workers`` processes of one thread each (one shard
    at a time per process, like DirectRunner's multi-processing mode). Yields its address.

    Dask spawns its workers, which re-imports the ``__main__`` module: a script that calls
    ``run_build`` with the Dask runner needs the usual ``if __name__ == "__main__":`` guard
    (the ``avprep`` command needs nothing)."""
    try:
        from distributed import LocalCluster
    except ImportError as e:  # pragma: no cover - a core dependency (apache-beam[dask])
        raise ImportError(
            "DaskRunner needs dask and distributed: pip install 'apache-beam[dask]'"
        ) from e

    n = workers or os.cpu_count() or 1
    if logging.getLogger().getEffectiveLevel() > logging.INFO:  # avprep -v shows Dask's INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,  # no port for a page nobody asked for (the progress bar shows)
        silence_logs=logging.ERROR,
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@dataclass(frozen=True)
class Placement:
    runner: str  # short name
    direct: bool  # DirectRunner: the driver process or its children
    on_this_machine: bool  # every worker certainly runs on the driver's machine


def placement(opts: PipelineOptions, runner: object, dask_local: bool) -> Placement:
    name = runner_short_name(runner)
    direct = name in DIRECT_RUNNERS
    portable = opts.view_as(PortableOptions)
    env = (portable.environment_type or "").upper()
    here = (
        direct
        or (is_dask(runner) and dask_local)
        or env == "LOOPBACK"  # SDK workers run inside the driver process, whatever the runner
        or (name == "PortableRunner" and portable.job_endpoint == "embed" and env == "PROCESS")
    )
    return Placement(name, direct, here)


def refuse_unshared_out(out: str, where: Placement) -> OutFolderError:
    return OutFolderError(
        f"--out {out} is a local path but {where.runner} workers may run on other machines. "
        "If it is a shared mount (NFS, Lustre, GPFS, CephFS) that every worker sees at this same "
        "path, add --shared-out: each worker then checks that it sees this build's folder "
        "before it writes anything. Otherwise use a shared location such as gs://bucket/out."
    )


def write_worker_token(out: str) -> tuple[str, str]:
    """The driver's token in the build folder: (path, value) for the workers to check."""
    path = BuildLayout(out).worker_token
    value = f"{uuid.uuid4().hex} {socket.gethostname()}"
    storage.write_bytes(path, value.encode())
    return path, value


def remove_worker_token(token: tuple[str, str] | None) -> None:
    if token is not None:
        with contextlib.suppress(OSError):
            storage.delete([token[0]])


def _read_token(path: str) -> str | None:
    try:
        return storage.read_bytes(path).decode()
    except (OSError, UnicodeDecodeError):
        return None


def _not_shared(out: str, host: str) -> WorkersCannotSeeOutError:
    return WorkersCannotSeeOutError(
        f"worker on host {host} cannot see the build folder {out} the driver wrote "
        "(its check file is missing or differs there): --out must be one folder that every "
        "worker mounts at the same path (what --shared-out promised)."
    )


def check_worker_token(out: str, token: tuple[str, str] | None) -> None:
    """In a worker, before it writes: the build folder here is the driver's."""
    if token is not None and _read_token(token[0]) != token[1]:
        raise _not_shared(out, socket.gethostname())


def check_dask_workers(address: str, out: str, token: tuple[str, str]) -> None:
    """Up front, on every worker connected to the Dask scheduler now (workers that join later
    check in ``BuildShard`` before writing)."""
    from distributed import Client

    with Client(address, timeout=60) as client:
        seen = client.run(_read_token, token[0])
    for worker, value in sorted(seen.items()):
        if value != token[1]:
            host = worker.split("://", 1)[-1].rsplit(":", 1)[0]
            raise _not_shared(out, host)


def not_shared_error(e: BaseException) -> WorkersCannotSeeOutError | None:
    """The worker's error inside whatever a runner wrapped it in, else None."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, WorkersCannotSeeOutError):
            return seen
        seen = seen.__cause__ or seen.__context__
    found = _NOT_SHARED.search(str(e))
    return WorkersCannotSeeOutError(found[0]) if found else None


def close_runner(pipeline_result: object) -> None:
    """The Dask runner leaves its client open: close it (the scheduler and workers stay)."""
    client = getattr(pipeline_result, "client", None)
    if client is not None and hasattr(client, "close"):
        with contextlib.suppress(Exception):
            client.close()


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
