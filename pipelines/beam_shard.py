"""``BuildShard``: the Beam DoFn of a build (:func:`pipelines.build_steps.build_shard` per shard,
counted in Beam metrics). In a module of its own so that importing ``pipelines.build`` imports
no Beam: a small local build runs in-process without it (:mod:`pipelines.local`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from avprep.clip_processor import ClipProcessor
from avprep.config import BuildConfig
from pipelines import runners
from pipelines.build_steps import build_shard, worker_processor


class BuildShard(beam.DoFn):
    """Builds one shard: every clip of its plan file -> tar + manifest rows
    (:func:`pipelines.build_steps.build_shard`), counted in Beam metrics."""

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
        runners.watch_driver(self.driver)
        self.config = BuildConfig.from_dict(self.config_dict)
        runners.check_worker_token(self.config.out, self.token)  # before anything is written
        self.processor = worker_processor(self.config_dict)

    def start_bundle(self) -> None:
        # a shared --out is checked again per bundle: a worker may have joined the Dask
        # cluster, or a node may have lost its mount, after setup
        runners.check_worker_token(self.config.out, self.token)

    def _count(self, row: dict[str, Any]) -> None:
        if row["status"] == "ok":
            self.ok.inc()
        else:
            self.rejected.inc()
            Metrics.counter("avprep", f"rejected_{row['reason']}").inc()

    def process(self, shard: str) -> Iterable[tuple[str, int, int]]:
        n_ok, n_rejected = build_shard(self.config, self.processor, shard, self._count)
        self.shards_done.inc()
        yield shard, n_ok, n_rejected
