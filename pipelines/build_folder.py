"""The build folder (``--out``): who owns it, who is writing it, what a build wrote there.

- :func:`check_out_folder`: ``--out`` must not contain the corpus root, and must be empty
  or an earlier avprep build (it holds ``_state.json``); anything else is refused, so a
  build never writes among (or ``--overwrite`` never deletes) files avprep did not write.
- :class:`BuildLock`: one build writes into a folder at a time. Locally the lock is a file
  created exclusively (``O_EXCL``) holding the owner's pid and host; a lock whose process is
  gone (same host) is stale and taken over. Object stores have no exclusive create through
  Beam's FileSystems: the lock object is checked and written, which refuses a second build
  started after the first but cannot exclude two started in the same instant.
- :func:`remove_recorded_outputs`: what ``--overwrite`` deletes: exactly the files the
  folder's own record (``_state.json``, else ``build.json``) names, never a listing.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from typing import Any

from apache_beam.io.filesystems import FileSystems

from avprep import storage

PLAN_DIR, PARTS_DIR, SHARDS_DIR, PROGRESS_DIR = "_plan", "_parts", "shards", "_progress"
STATE_FILE = "_state.json"
LOCK_FILE = "_build.lock"
TOP_FILES = ("manifest.parquet", "build.json", "report.html")
# a shard file name as plan.shard_name makes it: nothing that can leave a folder
SHARD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*-\d{6}\.tar$")


class OutFolderError(RuntimeError):
    """``--out`` is a folder avprep must not write into."""


class BuildLockedError(RuntimeError):
    """Another build holds the build folder's lock."""


def _join(*parts: str) -> str:
    return FileSystems.join(*parts)


def _norm(path: str) -> str:
    if storage.is_remote(path):
        return path.rstrip("/") + "/"
    return os.path.realpath(path).rstrip(os.sep) + os.sep


def check_out_folder(root: str | None, out: str) -> None:
    """Refuse an ``out`` that contains ``root``, or that is neither empty nor an avprep build."""
    if root and storage.is_remote(root) == storage.is_remote(out):
        if _norm(root).startswith(_norm(out)):
            raise OutFolderError(
                f"--out {out} contains the corpus root {root}: a build writes (and --overwrite "
                "deletes) files there. Choose an --out outside the corpus."
            )
    entries = _entries(out)
    if not entries or STATE_FILE in entries:
        return
    ours = {LOCK_FILE, PLAN_DIR, PARTS_DIR, SHARDS_DIR, PROGRESS_DIR}
    if set(entries) <= ours and not any(_entries(_join(out, e)) for e in entries if e in ours):
        return  # a build that stopped before recording itself: nothing but empty folders
    shown = ", ".join(sorted(entries)[:5]) + (" ..." if len(entries) > 5 else "")
    raise OutFolderError(
        f"--out {out} is not empty and is not an avprep build (no {STATE_FILE}; it holds "
        f"{shown}). avprep writes only into a new or empty folder or an earlier avprep build, "
        "and --overwrite deletes only what a build recorded: choose another --out."
    )


def _entries(path: str) -> list[str]:
    """Names directly under ``path`` (object stores: first path component under the prefix)."""
    if not storage.is_remote(path):
        try:
            return os.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            return []
    prefix = path.rstrip("/") + "/"
    names = set()
    for result in FileSystems.match([prefix + "**"]):
        for m in result.metadata_list:
            names.add(m.path[len(prefix) :].split("/", 1)[0])
    return sorted(n for n in names if n)


def recorded_shards(out: str) -> list[str]:
    """Shard names the folder's own record lists (``_state.json``, else ``build.json``)."""
    for name in (STATE_FILE, "build.json"):
        path = _join(out, name)
        if FileSystems.exists(path):
            try:
                with FileSystems.open(path) as f:
                    shards = json.loads(f.read()).get("shards") or []
            except ValueError:
                continue
            return [s for s in shards if isinstance(s, str) and SHARD_NAME.match(s)]
    return []


def shard_files(shard: str) -> list[tuple[str, str]]:
    """``(folder, file name)`` of every file a build writes for one shard."""
    stem = shard[: -len(".tar")]
    return [
        (SHARDS_DIR, shard),
        (PARTS_DIR, f"{stem}.parquet"),
        (PLAN_DIR, f"{stem}.jsonl"),
        (PROGRESS_DIR, f"{stem}.log"),
    ]


def temp_files(out: str, shards: list[str]) -> list[str]:
    """Half-written temp files (``<name>.tmp-XXXXXXXX``) of the files a build writes."""
    names = [("", n) for n in (*TOP_FILES, STATE_FILE)]
    names += [fn for s in shards for fn in shard_files(s)]
    patterns = [_join(out, d, f"{n}.tmp-*") if d else _join(out, f"{n}.tmp-*") for d, n in names]
    found: list[str] = []
    for result in FileSystems.match(patterns):
        found.extend(m.path for m in result.metadata_list)
    return found


def remove_recorded_outputs(out: str) -> None:
    """``--overwrite``: delete the files the folder's record says a build wrote, nothing else."""
    shards = recorded_shards(out)
    paths = [_join(out, d, n) for s in shards for d, n in shard_files(s)]
    paths += [_join(out, n) for n in TOP_FILES]
    paths = [p for p in paths if FileSystems.exists(p)] + temp_files(out, shards)
    if paths:
        FileSystems.delete(paths)


class BuildLock:
    """``OUT/_build.lock`` (module docstring). Use as a context manager."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.path = _join(out, LOCK_FILE)
        self.owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        self.held = False

    def __enter__(self) -> BuildLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        data = json.dumps(self.owner).encode()
        if storage.is_remote(self.out):
            if FileSystems.exists(self.path):
                raise self._locked(self._holder(), remote=True)
            with FileSystems.create(self.path) as f:
                f.write(data)
            self.held = True
            return
        os.makedirs(self.out, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if not self._is_stale(holder):
                    raise self._locked(holder, remote=False) from None
                try:
                    os.remove(self.path)  # the process that held it is gone
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self.held = True
            return
        raise self._locked(self._holder(), remote=False)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            if self._holder() == self.owner:
                FileSystems.delete([self.path])
        except OSError:
            pass

    def _holder(self) -> dict[str, Any] | None:
        try:
            with FileSystems.open(self.path) as f:
                holder = json.loads(f.read())
            return holder if isinstance(holder, dict) else None
        except (OSError, ValueError):
            return None

    def _is_stale(self, holder: dict[str, Any] | None) -> bool:
        if holder is None:  # unreadable: its writer died between create and write
            try:
                return time.time() - os.path.getmtime(self.path) > 10
            except OSError:
                return True
        if holder.get("host") != socket.gethostname():
            return False  # another machine's process: cannot tell, never steal
        try:
            os.kill(int(holder.get("pid", -1)), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError, OverflowError):
            return False
        return False

    def _locked(self, holder: dict[str, Any] | None, remote: bool) -> BuildLockedError:
        who = (
            f"process {holder.get('pid')} on {holder.get('host')}" if holder else "another process"
        )
        how = (
            "object stores cannot tell whether that build is still running"
            if remote
            else "it is still running"
        )
        return BuildLockedError(
            f"{self.out} is being written by another avprep build ({who}; {how}). Wait for it "
            f"to finish, or use another --out. If no build is running, delete {self.path}."
        )
