"""DDP with 2 CPU processes (gloo) under torchrun, through the `avprep train` CLI: each rank
reads its own part, the parts of an epoch cover every sample exactly once even though the
ranks' parts differ in size, and the ranks' parameters stay identical step by step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from avprep.reader import View
from models.data import make_loader
from tests.models.training.tiny_method import MODULE

ROOT = Path(__file__).resolve().parents[3]  # the repository root: tests.* import from there


class KeyView(View):
    """Only the key of every sample (the partition is what is tested here)."""

    name = "keys"

    def items(self, sample, rng):
        return [{"key": sample.key}]


def _epochs(data, rank, world, n):
    loader = make_loader(data, KeyView(), 2, rank=rank, world_size=world)
    return [[k for b in loader for k in b["key"]] for _ in range(n)]


@pytest.mark.slow
def test_ddp_two_cpu_ranks_partition_epochs_and_stay_in_sync(demo_build, tmp_path):
    out = tmp_path / "run"
    steps = 4
    env = {
        **os.environ, "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }  # fmt: skip
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", MODULE, "train", "tiny", "--data", str(demo_build),
        "--out", str(out), "--steps", str(steps), "--device", "cpu", "--workers", "0",
        "--batch-size", "2", "--no-progress", "--set", "record_keys=true",
        "--set", "sample_every=0", "--set", "val_every=0", "--set", "checkpoint_every=2",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = {}
    for rank in (0, 1):
        rows = [json.loads(x) for x in (out / f"keys-rank{rank}.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == list(range(steps))
        seen[rank] = rows
    # parameters identical on both ranks after every step (DDP averaged the gradients)
    assert [r["params"] for r in seen[0]] == [r["params"] for r in seen[1]]
    # each rank read exactly its own loader's epochs, cycling them on its own
    expected = {r: _epochs(demo_build, r, 2, steps) for r in (0, 1)}
    all_keys = Counter(k for e in _epochs(demo_build, 0, 1, 1) for k in e)
    assert len(all_keys) == 6
    sizes = {r: len(expected[r][0]) for r in (0, 1)}
    assert sizes[0] != sizes[1]  # uneven parts: 3 shards over 2 ranks
    for r in (0, 1):
        flat = [k for row in seen[r] for k in row["keys"]]
        assert flat == [k for e in expected[r] for k in e][: len(flat)]
    # epoch e of rank 0 and epoch e of rank 1 together: every sample exactly once
    for e in range(2):
        assert Counter(expected[0][e] + expected[1][e]) == all_keys
    # the checkpoint holds both ranks' loader positions
    from models.training.checkpoint import load_checkpoint

    state = load_checkpoint(out)
    assert state["world_size"] == 2 and [x["loader"]["rank"] for x in state["ranks"]] == [0, 1]
