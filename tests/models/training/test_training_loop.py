"""The training core on the demo shards with a small real method (tiny_method.py): exact
resume, checkpoints (atomic, keep-last-k, contents), logs, samples, stage init."""

from __future__ import annotations

import json
import os

import av
import numpy as np
import pytest
import torch

from models.training import checkpoint as ckpt
from models.training.config import resolve_config
from models.training.loop import RunFolderError, train
from tests.models.training.tiny_method import register_tiny, unregister_tiny


@pytest.fixture(autouse=True)
def tiny():
    register_tiny()
    yield
    unregister_tiny()


def _run(data, out, steps, resume=False, init=None, stage=None, **train_values):
    values = {
        "data": (str(data),), "steps": steps, "num_workers": 0, "device": "cpu",
        "progress": False, "val_every": 0, "sample_every": 0, "log_every": 1,
        "checkpoint_every": 2, **train_values,
    }  # fmt: skip
    base = None
    if resume:
        base = json.loads((out / "config.json").read_text())
        values["data"] = tuple(base["train"]["data"])
    run = resolve_config("tiny", stage=stage, base=base, train_values=values)
    return train(run, out, resume=resume, init=init)


def _params(run_dir):
    state = ckpt.load_checkpoint(run_dir)
    return state, state["modules"]["net"]


def test_resume_is_bit_identical_to_an_uninterrupted_run(demo_build, tmp_path):
    # 6 clips in shards of 2 / batch 2: 3 batches per epoch, so 2 x 4 steps cross an epoch
    straight = _run(demo_build, tmp_path / "straight", 8)
    assert straight.step == 8
    _run(demo_build, tmp_path / "split", 4)
    with open(tmp_path / "split/scalars.jsonl", "a") as f:  # logged after the checkpoint
        f.write('{"step": 5, "loss": 9.0}\n{"step": 6, "lo')  # ...then killed mid-line
    resumed = _run(demo_build, tmp_path / "split", 8, resume=True)
    assert resumed.resumed_from == 4 and resumed.step == 8
    a, pa = _params(tmp_path / "straight")
    b, pb = _params(tmp_path / "split")
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k
    for name in ("enc", "dec"):
        sa, sb = a["optimizers"][name]["state"], b["optimizers"][name]["state"]
        for i in sa:
            for k, v in sa[i].items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb[i][k]))
    assert a["schedulers"] == b["schedulers"] and a["extra"]["batches_seen"] == 8
    assert a["extra"]["out_dtype"] == "torch.float32"  # fp32 on CPU
    assert a["ranks"][0]["loader"] == b["ranks"][0]["loader"]
    # logged losses of the resumed half equal the straight run's
    la = [json.loads(x) for x in (tmp_path / "straight/scalars.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (tmp_path / "split/scalars.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in la] == [r["loss"] for r in lb]


def test_checkpoints_keep_last_k_and_hold_everything(demo_build, tmp_path):
    out = tmp_path / "run"
    result = _run(demo_build, out, 5, checkpoint_every=1, keep_last=2)
    steps = [s for s, _ in ckpt.list_checkpoints(out)]
    assert steps == [4, 5] and result.checkpoint == out / "checkpoints/step-00000005.pt"
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]
    state = ckpt.load_checkpoint(out)
    assert state["step"] == 5 and state["method"] == "tiny" and state["stage"] == "main"
    assert set(state["optimizers"]) == {"enc", "dec"} and set(state["schedulers"]) == {"dec"}
    assert state["config"]["train"]["keep_last"] == 2 and state["world_size"] == 1
    rng = state["ranks"][0]["rng"]
    assert {"torch", "numpy", "python"} <= set(rng)
    assert state["ranks"][0]["loader"]["epoch"] == 1
    saved = json.loads((out / "config.json").read_text())
    assert saved["method_config"]["batch_size"] == 2 and saved["train"]["steps"] == 5


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, 1, {"modules": {"w": torch.ones(2)}}, keep_last=3)

    def torn(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(tmp_path, 2, {"modules": {}}, keep_last=3)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [1]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step-00000001.pt"]
    assert torch.equal(ckpt.load_checkpoint(tmp_path)["modules"]["w"], torch.ones(2))


def test_logs_samples_and_validation(demo_build, tmp_path):
    out = tmp_path / "run"
    _run(demo_build, out, 2, sample_every=2, val_every=2, val_split="train", val_batches=1)
    rows = [json.loads(x) for x in (out / "scalars.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    assert all("perf/data_wait_fraction" in r and "lr/dec" in r for r in rows if "loss" in r)
    assert [r["val/l1"] > 0 for r in rows if "val/l1" in r] == [True]
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert {"loss", "val/l1", "perf/samples_per_s"} <= set(acc.Tags()["scalars"])
    assert "samples" in acc.Tags()["images"]
    import cv2

    grid = cv2.imread(str(out / "samples/step-00000002.png"))
    # 2 rows of identity + 4 truth + 4 generated 32x32 tiles with 2-px gutters
    assert grid.shape == (2 * 32 + 2, 9 * 32 + 8 * 2, 3)
    with av.open(str(out / "samples/step-00000002-0.mp4")) as c:
        kinds = sorted(s.type for s in c.streams)
        assert kinds == ["audio", "video"]
        video = c.streams.video[0]
        assert (video.width, video.height) == (96, 32)
        audio = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
    assert np.abs(audio).max() > 0.1  # the method's tone is there
    assert (out / "samples/step-00000002-1.mp4").exists()


def test_existing_run_needs_resume_and_init_loads_a_previous_stage(demo_build, tmp_path):
    first = tmp_path / "main"
    _run(demo_build, first, 2)
    with pytest.raises(RunFolderError, match="--resume"):
        _run(demo_build, first, 4)
    second = tmp_path / "decoder"
    _run(demo_build, second, 1, init=str(first), stage="decoder")
    _, p_first = _params(first)
    _, p_second = _params(second)
    # the decoder stage starts from the main stage and trains the decoder only
    for k in p_first:
        same = torch.equal(p_first[k], p_second[k])
        assert same == (not k.startswith("decoder")), k


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_channels_last_compile_short_run(demo_build, tmp_path):
    out = tmp_path / "gpu"
    result = _run(demo_build, out, 4, device="cuda", compile=True, num_workers=2, sample_every=4)
    state = ckpt.load_checkpoint(out)
    assert result.step == 4 and state["extra"]["out_dtype"] == "torch.bfloat16"
    assert state["extra"]["memory_format"] == "channels_last"
    assert all(torch.isfinite(v).all() for v in state["modules"]["net"].values())
    assert "cuda" in state["ranks"][0]["rng"]
    rows = [json.loads(x) for x in (out / "scalars.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in rows)
    assert (out / "samples/step-00000004.png").exists()
