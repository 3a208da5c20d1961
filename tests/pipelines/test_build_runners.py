"""Builds beyond DirectRunner (issue 21), on real runners: a Dask scheduler and workers started
here as processes, a local Dask cluster started by avprep, Beam's embedded portable job
service with LOOPBACK workers. The runner is what these tests are about: the corpus is the
six demo clips with no face, feature or alignment stage."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from avprep.build_layout import WORKER_TOKEN as TOKEN_FILE
from avprep.cli import main
from avprep.config import BuildConfig
from pipelines.build import run_build
from pipelines.build_folder import OutFolderError
from pipelines.runners import (
    WorkersCannotSeeOutError,
    check_dask_workers,
    check_worker_token,
    not_shared_error,
)

distributed = pytest.importorskip("distributed")

FAST = {"face_backend": "none", "features": (), "aligner": "none"}


class DaskCluster:
    """``dask scheduler`` + ``dask worker`` processes (no nanny: a killed worker stays dead)."""

    def __init__(self, folder: Path, n_workers: int) -> None:
        self.file = folder / "scheduler.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard", "--scheduler-file", str(self.file)],
            **quiet,
        )  # fmt: skip
        self.workers: list[subprocess.Popen] = []
        try:
            deadline = time.time() + 60
            while not self.file.exists() and time.time() < deadline:
                time.sleep(0.1)
            for _ in range(n_workers):
                self.workers.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "distributed.cli.dask_worker",
                            "--nthreads",
                            "1",
                            "--no-nanny",
                            "--no-dashboard",
                            "--scheduler-file",
                            str(self.file),
                        ],
                        **quiet,
                    )  # fmt: skip
                )
            self.client = distributed.Client(scheduler_file=str(self.file), timeout=60)
            self.client.wait_for_workers(n_workers, timeout=90)
            self.address = self.client.scheduler.address
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


@pytest.fixture
def dask_cluster(tmp_path):
    (tmp_path / "dask").mkdir()
    cluster = DaskCluster(tmp_path / "dask", 2)
    try:
        yield cluster
    finally:
        cluster.close()


@contextlib.contextmanager
def _beam_worker_pool():
    """``python -m apache_beam.runners.worker.worker_pool_main``: what the worker image runs
    as a Flink/Spark task manager's sidecar (``boot --worker_pool``); yields its port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
    }
    pool = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
         f"--service_port={port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as s, contextlib.suppress(OSError):
                s.connect(("127.0.0.1", port))
                break
            time.sleep(0.1)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pool.pid, signal.SIGKILL)  # the pool and the SDK workers it started
        pool.wait(timeout=10)


def _config(root: Path, out: Path, shard_size: int = 2) -> BuildConfig:
    return BuildConfig(
        dataset="folder", root=str(root), out=str(out), shard_size=shard_size, **FAST
    )


def _outputs(out: Path) -> dict[str, str]:
    """Digest of every shard and of the manifest: what must be byte-identical across runners."""
    digests = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (out / "shards").iterdir()
    }
    digests["manifest.parquet"] = hashlib.sha256(
        (out / "manifest.parquet").read_bytes()
    ).hexdigest()
    return digests


def test_dask_cluster_spreads_shards_and_matches_direct_and_portable(
    tmp_path, demo_corpus, dask_cluster
):
    direct = run_build(_config(demo_corpus, tmp_path / "direct"), [], report=False)

    client = dask_cluster.client
    client.get_task_stream()  # registers the scheduler's task record from here on
    started = time.time()
    progress: list[tuple[int, int]] = []
    dask_out = tmp_path / "dask-out"
    dask = run_build(
        _config(demo_corpus, dask_out),
        ["--runner=DaskRunner", f"--dask_client_address={dask_cluster.address}"],
        shared_out=True,
        report=False,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    tasks = client.get_task_stream(start=started)

    portable = run_build(
        _config(demo_corpus, tmp_path / "portable"),
        ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
        report=False,
    )
    # the path Flink/Spark on Kubernetes take: SDK workers started by a Beam worker pool, as
    # processes of their own (nothing from the driver's memory), writing the shared --out
    with _beam_worker_pool() as port:
        pooled = run_build(
            _config(demo_corpus, tmp_path / "pooled"),
            ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=EXTERNAL",
             f"--environment_config=localhost:{port}"],
            shared_out=True,
            report=False,
        )  # fmt: skip

    for result in (direct, dask, portable, pooled):
        assert result.info["counts"]["ok"] == 6 and result.info["counts"]["shards"] == 3
    # each shard is its own Dask partition: the shard-building tasks ran on both workers
    first_stage = {
        t["worker"] for t in tasks if isinstance(t["key"], tuple) and "from_sequence" in t["key"][0]
    }
    assert first_stage == set(client.scheduler_info()["workers"]), tasks
    assert progress[-1] == (6, 6)
    assert not (dask_out / TOKEN_FILE).exists()  # the shared-folder check file is removed

    reference = _outputs(tmp_path / "direct")
    assert len(reference) == 4  # 3 shards + manifest
    assert _outputs(dask_out) == reference
    assert _outputs(tmp_path / "portable") == reference
    assert _outputs(tmp_path / "pooled") == reference


def test_face_and_feature_build_is_byte_identical_on_direct_dask_and_portable(
    tmp_path, demo_corpus
):
    """dlib face crops (MP4) and the four feature tracks: the bytes do not depend on which
    runner, process or worker built a shard. Forced alignment is left out: pocketsphinx's
    result for a clip depends on the clips the same decoder aligned before it (one worker
    building both shards differs from two workers building one each, on any runner), which
    the aligner has to fix, not the runner."""
    full = {
        "face_backend": "dlib",
        "features": ("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"),
        "aligner": "none",
    }

    def config(out: Path) -> BuildConfig:
        return BuildConfig(
            dataset="folder", root=str(demo_corpus), out=str(out), shard_size=1, limit=2, **full
        )

    runs = {
        "direct": [],
        "dask": ["--runner=DaskRunner"],
        "portable": [
            "--runner=PortableRunner",
            "--job_endpoint=embed",
            "--environment_type=LOOPBACK",
        ],
    }
    digests = {}
    for name, args in runs.items():
        result = run_build(config(tmp_path / name), args, workers=2, report=False)
        assert result.info["counts"]["ok"] == 2, result.info
        digests[name] = _outputs(tmp_path / name)
    assert len(digests["direct"]) == 3
    assert digests["dask"] == digests["direct"]
    assert digests["portable"] == digests["direct"]


def test_dask_runner_by_short_name_starts_and_stops_a_local_cluster(tmp_path, demo_corpus):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["build", "folder", "--root", str(demo_corpus), "--out", str(out), "--shard-size", "3",
         "--face-backend", "none", "--features", "none", "--aligner", "none", "--no-progress",
         "--no-report", "--runner=DaskRunner", "--workers", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "6 ok, 0 rejected -> 2 shards" in result.output
    assert sorted(p.name for p in (out / "shards").iterdir()) == [
        "train-000000.tar",
        "train-000001.tar",
    ]
    # the cluster lived as long as the build: no worker process of it is left
    import psutil

    def dask_worker(p: psutil.Process) -> bool:
        with contextlib.suppress(psutil.Error):
            return p.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(
                p.cmdline()
            )
        return False

    assert not [p for p in psutil.Process().children(recursive=True) if dask_worker(p)]


@pytest.mark.parametrize(
    "args",
    [
        ["--runner=PortableRunner", "--job_endpoint=localhost:1"],
        ["--runner=DaskRunner", "--dask_client_address=127.0.0.1:1"],
        ["--runner=FlinkRunner", "--flink_master=localhost:1"],
    ],
)
def test_local_out_for_workers_elsewhere_needs_shared_out(tmp_path, demo_corpus, args):
    out = tmp_path / "out"
    with pytest.raises(OutFolderError, match="--shared-out"):
        run_build(_config(demo_corpus, out), args, report=False)
    assert not out.exists()  # refused before anything is written or any cluster is contacted


def test_a_worker_that_does_not_see_the_folder_refuses(tmp_path, dask_cluster):
    out = tmp_path / "out"
    out.mkdir()
    token = out / TOKEN_FILE
    token.write_text("abc host")
    check_worker_token(str(out), (str(token), "abc host"))  # the driver's token: fine
    with pytest.raises(WorkersCannotSeeOutError, match="cannot see the build folder"):
        check_worker_token(str(out), (str(token), "another build's token"))
    # every worker of a real cluster is asked up front; here none sees a token file
    with pytest.raises(WorkersCannotSeeOutError, match=r"worker on host 127\.0\.0\.1"):
        check_dask_workers(dask_cluster.address, str(out), (str(out / "missing"), "x"))
    # a runner that wraps the worker's error as text still gives the user the one line
    try:
        check_worker_token(str(out), (str(out / "missing"), "x"))
    except WorkersCannotSeeOutError as e:
        wrapped = RuntimeError(f"Pipeline failed: Traceback ... {e} [while running 'BuildShard']")
    found = not_shared_error(wrapped)
    assert found is not None and "what --shared-out promised" in str(found)


def test_killing_a_dask_worker_mid_build_loses_and_duplicates_nothing(tmp_path, demo_corpus):
    root = tmp_path / "corpus"
    for copy in range(4):  # 24 clips in 12 shards
        shutil.copytree(demo_corpus, root / f"copy{copy}")
    out = tmp_path / "out"
    (tmp_path / "dask").mkdir()
    cluster = DaskCluster(tmp_path / "dask", 2)
    outcome: dict[str, object] = {}

    def build() -> None:
        try:
            outcome["result"] = run_build(
                _config(root, out),
                ["--runner=DaskRunner", f"--dask_client_address={cluster.address}"],
                shared_out=True,
                report=False,
            )
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = e

    try:
        driver = threading.Thread(target=build, daemon=True)
        driver.start()
        progress = out / "_progress"
        deadline = time.time() + 120
        while time.time() < deadline and driver.is_alive():
            ticks = sum(p.stat().st_size for p in progress.iterdir()) if progress.is_dir() else 0
            writing = list((out / "shards").glob("*.tmp-*")) if ticks >= 2 else []
            if writing:
                break  # a clip is done and a shard is half-written: the kill lands mid-shard
            time.sleep(0.01)
        assert driver.is_alive() and writing and len(list((out / "shards").glob("*.tar"))) < 12
        victim = cluster.workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        driver.join(timeout=240)
        assert not driver.is_alive(), "the build should finish on the remaining worker"
    finally:
        cluster.close()
    assert "error" not in outcome, outcome.get("error")
    info = outcome["result"].info
    manifest = pq.read_table(out / "manifest.parquet").to_pylist()
    keys = [row["key"] for row in manifest]
    assert len(keys) == len(set(keys)) == 24 == info["counts"]["ok"]
    # exactly the planned shards, each once, nothing half-written left beside them
    assert sorted(p.name for p in (out / "shards").iterdir()) == sorted(info["shards"])
    in_shards = []
    for shard in info["shards"]:
        with tarfile.open(out / "shards" / shard) as tar:
            stems = {m.name.split(".", 1)[0] for m in tar.getmembers()}
        assert stems == {r["key"] for r in manifest if r["shard"] == shard}
        in_shards += stems
    assert sorted(in_shards) == sorted(keys)
    # a rerun (here on DirectRunner) finds nothing left to do
    again = run_build(_config(root, out), [], report=False)
    assert again.shards_skipped == again.shards_total == 12
    assert json.loads((out / "build.json").read_text())["counts"]["ok"] == 24
