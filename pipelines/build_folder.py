"""The build folder (``--out``): who owns it, who is writing it, what a build wrote there.

- :func:`check_out_folder`: ``--out`` must not contain the corpus root, and must be empty
  or an earlier avprep build (it holds ``_state.json``); anything else is refused, so a
  build never writes among (or ``--overwrite`` never deletes) files avprep did not write.
- :class:`BuildLock`: one build writes into a folder at a time. Locally the lock is a file
  created exclusively (``O_EXCL``) holding the owner's pid and host; a lock whose process is
  gone (same host) is stale and taken over. Object stores have no exclusive create: the
  lock object is checked and written, which refuses a second build started after the first
  but cannot exclude two started in the same instant.
- :func:`remove_recorded_outputs`: what ``--overwrite`` deletes: exactly the files the
  folder's own record (``_state.json``, else ``build.json``) names, never a listing.

File and folder names come from :mod:`avprep.build_layout`, reads and writes go through
:mod:`avprep.storage` (local or remote).
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from typing import Any

from avprep import build_layout as names
from avprep import storage
from avprep.build_layout import BuildLayout

# a shard file name as plan.shard_name makes it: nothing that can leave a folder
SHARD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*-\d{6}\.tar$")


class OutFolderError(RuntimeError):
    """``--out`` is a folder avprep must not write into."""


class BuildLockedError(RuntimeError):
    """Another build holds the build folder's lock."""


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
    entries = storage.list_names(out)
    if not entries or names.STATE in entries:
        return
    layout = BuildLayout(out)
    ours = set(names.WORK_ENTRIES)
    if set(entries) <= ours and not any(
        storage.list_names(layout.path(e)) for e in entries if e in ours
    ):
        return  # a build that stopped before recording itself: nothing but empty folders
    shown = ", ".join(sorted(entries)[:5]) + (" ..." if len(entries) > 5 else "")
    raise OutFolderError(
        f"--out {out} is not empty and is not an avprep build (no {names.STATE}; it holds "
        f"{shown}). avprep writes only into a new or empty folder or an earlier avprep build, "
        "and --overwrite deletes only what a build recorded: choose another --out."
    )


def recorded_shards(out: str) -> list[str]:
    """Shard names the folder's own record lists (``_state.json``, else ``build.json``)."""
    layout = BuildLayout(out)
    for path in (layout.state, layout.build_info):
        if storage.exists(path):
            try:
                shards = json.loads(storage.read_bytes(path)).get("shards") or []
            except ValueError:
                continue
            return [s for s in shards if isinstance(s, str) and SHARD_NAME.match(s)]
    return []


def temp_files(out: str, shards: list[str]) -> list[str]:
    """Half-written temp files (``<name>.tmp-XXXXXXXX``) of the files a build writes."""
    return storage.leftover_temps(BuildLayout(out).written_files(shards))


def remove_recorded_outputs(out: str) -> None:
    """``--overwrite``: delete the files the folder's record says a build wrote, nothing else."""
    layout = BuildLayout(out)
    shards = recorded_shards(out)
    paths = [f for s in shards for f in layout.shard_files(s)]
    paths += [layout.path(n) for n in names.TOP_FILES]
    paths = [p for p in paths if storage.exists(p)] + temp_files(out, shards)
    storage.delete(paths)


class BuildLock:
    """``OUT/_build.lock`` (module docstring). Use as a context manager."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.path = BuildLayout(out).lock
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
            if storage.exists(self.path):
                raise self._locked(self._holder(), remote=True)
            storage.write_bytes(self.path, data)
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
                storage.delete([self.path])
        except OSError:
            pass

    def _holder(self) -> dict[str, Any] | None:
        try:
            holder = json.loads(storage.read_bytes(self.path))
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
