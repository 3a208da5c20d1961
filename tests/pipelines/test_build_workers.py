"""Killing the driver of a ``--workers N`` build stops its workers (issue 19, case 4)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _descendants(pid: int) -> list[int]:
    out = []
    for child in _children(pid):
        out += [child, *_descendants(child)]
    return out


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_stop_when_the_driver_is_killed(tmp_path, demo_corpus):
    root = tmp_path / "corpus"
    for copy in range(8):  # 48 clips in 2 shards: seconds of work for each worker
        shutil.copytree(demo_corpus, root / f"copy{copy}")
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-c", "from avprep.cli import main; main()", "build", "folder",
        "--root", str(root), "--out", str(out), "--shard-size", "24", "--workers", "2",
        "--face-backend", "none", "--features", "none", "--aligner", "none", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards, progress = out / "shards", out / "_progress"
    deadline = time.time() + 120
    workers: list[int] = []
    try:
        while time.time() < deadline and driver.poll() is None:
            if progress.is_dir() and sum(p.stat().st_size for p in progress.iterdir()) >= 4:
                workers = _descendants(driver.pid)  # both mid-shard: 2 clips of 48 done
                break
            time.sleep(0.02)
        assert workers, "the build should have started its workers"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        killed_at = time.time()
        # generous for a loaded CI machine: the watchdog checks every 0.5 s
        while time.time() - killed_at < 15 and any(_running(p) for p in workers):
            time.sleep(0.05)
        left = [p for p in workers if _running(p)]
        assert not left, f"workers {left} still run 15 s after the driver died"
        ticks = sum(p.stat().st_size for p in progress.iterdir())
        time.sleep(1.0)
        assert sum(p.stat().st_size for p in progress.iterdir()) == ticks  # nothing works on
        assert not list(shards.glob("*.tar"))
    finally:
        for pid in _descendants(driver.pid) + workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
