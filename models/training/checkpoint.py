"""Checkpoints: one ``torch.save`` dict per step, written atomically, the last k kept.

``RUN_DIR/checkpoints/step-00001000.pt`` holds::

    {"format": 1, "method", "stage", "step",
     "modules": {name: state_dict}, "optimizers": {...}, "schedulers": {...},
     "extra": trainer.extra_state(), "config": RunConfig.to_json(),
     "world_size": W, "ranks": [{"rng": {...}, "loader": ShardLoader.state_dict()}, ...]}

Each rank's RNG states (torch CPU, CUDA, numpy, python) and loader position are gathered to
rank 0, which writes the file; on resume every rank takes its own entry back. Files are
written to a temporary name in the same folder and renamed (``os.replace``), so a crash
leaves either the previous checkpoint or the new one, never a torn file. They load with
``torch.load(weights_only=True)``: tensors, numbers, strings, lists and dicts only, so
loading someone's checkpoint cannot run code.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_DIR = "checkpoints"
FORMAT = 1
_NAME = re.compile(r"^step-(\d{8,})\.pt$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}.pt"


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of the run's complete checkpoints, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder (its latest checkpoint) -> the file."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        latest = latest_checkpoint(p)
        if latest is None:
            raise FileNotFoundError(f"{p} holds no checkpoint ({CHECKPOINT_DIR}/step-*.pt)")
        return latest
    raise FileNotFoundError(f"no checkpoint file or run folder at {p}")


def save_checkpoint(run_dir: str | os.PathLike, step: int, state: dict[str, Any], keep_last: int):
    """Write ``state`` as the step's checkpoint (temp file + rename), then delete all but the
    newest ``keep_last`` checkpoints. Returns the path written."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / checkpoint_name(step)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for _, old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return final


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError/RuntimeError for foreign content
        raise ValueError(
            f"{path}: not a loadable avprep checkpoint ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(state, dict) or "modules" not in state:
        raise ValueError(f"{path}: not an avprep training checkpoint (no 'modules')")
    return state


# ------------------------------------------------------------------------ RNG states


def rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors/plain values (``weights_only``-loadable)."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_version, "internal": list(py_internal), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
         n["cached_gaussian"])
    )  # fmt: skip
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
