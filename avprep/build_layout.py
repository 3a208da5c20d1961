"""What a build folder holds, by name: the one place that spells its file and folder names.

A build folder (``avprep build --out``, default ``$AVPREP_HOME/<dataset>``)::

    build.json          what was built: config, versions, counts, shard list (finished builds)
    manifest.parquet    one row per discovered clip, ok or rejected with a reason
    report.html         ``avprep report`` (written after a build unless --no-report)
    shards/<split>-NNNNNN.tar            the webdataset shards
    _state.json         the build's record: fingerprints and the shards it writes (resume,
                        and what ``--overwrite`` may delete)
    _plan/<shard>.jsonl                  each shard's clips, written by the driver
    _parts/<shard>.parquet               each finished shard's manifest rows
    _progress/<shard>.log                one line per finished clip (local progress bar)
    _build.lock, _worker_check.token     the running build's lock and its workers' check file

A reshard output (``select-samples --reshard``) is the same shape with ``reshard.json`` in
place of ``build.json``. Readers, the report, the selection, the reshard, the trainers and the
Beam pipeline all get their paths from :class:`BuildLayout`, so a rename happens here once.
Paths are joined with :func:`avprep.storage.join`: local paths or ``gs://``-style URLs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from avprep import storage

BUILD_INFO = "build.json"
MANIFEST = "manifest.parquet"
REPORT = "report.html"
RESHARD_INFO = "reshard.json"
STATE = "_state.json"
LOCK = "_build.lock"
WORKER_TOKEN = "_worker_check.token"
SHARDS_DIR = "shards"
PLAN_DIR = "_plan"
PARTS_DIR = "_parts"
PROGRESS_DIR = "_progress"

# files at the top of a finished build that a rebuild (``--overwrite``) replaces
TOP_FILES = (MANIFEST, BUILD_INFO, REPORT)
# what a build that stopped before recording itself may have left (all empty folders, a lock)
WORK_ENTRIES = (LOCK, PLAN_DIR, PARTS_DIR, SHARDS_DIR, PROGRESS_DIR)


def shard_stem(shard: str) -> str:
    """``train-000000.tar`` -> ``train-000000`` (the name its plan, part and log files share)."""
    return shard[: -len(".tar")] if shard.endswith(".tar") else shard


@dataclass(frozen=True)
class BuildLayout:
    """Paths inside the build folder ``root`` (a local path or a URL)."""

    root: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", os.fspath(self.root))

    def path(self, *parts: str) -> str:
        return storage.join(self.root, *parts)

    # ------------------------------------------------------------------ top-level files
    @property
    def build_info(self) -> str:
        return self.path(BUILD_INFO)

    @property
    def manifest(self) -> str:
        return self.path(MANIFEST)

    @property
    def report(self) -> str:
        return self.path(REPORT)

    @property
    def reshard_info(self) -> str:
        return self.path(RESHARD_INFO)

    @property
    def state(self) -> str:
        return self.path(STATE)

    @property
    def lock(self) -> str:
        return self.path(LOCK)

    @property
    def worker_token(self) -> str:
        return self.path(WORKER_TOKEN)

    # ------------------------------------------------------------------ folders
    @property
    def shards_dir(self) -> str:
        return self.path(SHARDS_DIR)

    @property
    def plan_dir(self) -> str:
        return self.path(PLAN_DIR)

    @property
    def parts_dir(self) -> str:
        return self.path(PARTS_DIR)

    @property
    def progress_dir(self) -> str:
        return self.path(PROGRESS_DIR)

    # ------------------------------------------------------------------ per shard
    def shard(self, shard: str) -> str:
        """``shards/<shard>`` (``shard`` is a file name such as ``train-000000.tar``)."""
        return self.path(SHARDS_DIR, shard)

    def plan(self, shard: str) -> str:
        return self.path(PLAN_DIR, f"{shard_stem(shard)}.jsonl")

    def part(self, shard: str) -> str:
        return self.path(PARTS_DIR, f"{shard_stem(shard)}.parquet")

    def progress(self, shard: str) -> str:
        return self.path(PROGRESS_DIR, f"{shard_stem(shard)}.log")

    def shard_files(self, shard: str) -> list[str]:
        """Every file a build writes for one shard."""
        return [self.shard(shard), self.part(shard), self.plan(shard), self.progress(shard)]

    def written_files(self, shards: list[str]) -> list[str]:
        """Every file a build of ``shards`` writes, the top-level ones and its record included."""
        files = [self.path(n) for n in (*TOP_FILES, STATE)]
        return files + [f for s in shards for f in self.shard_files(s)]
