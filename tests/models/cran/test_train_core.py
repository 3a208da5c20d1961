"""CRAN through the shared training core on the demo shards: `avprep train cran` end to
end, exact resume of an adversarial recurrent stage, and the stage hand-off (RAE starts from
the CAE's weights). Tiny widths (channel_divisor=8) on the tables' 112x112 structure."""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner

from avprep.cli import main
from models.training import checkpoint as ckpt
from models.training.config import resolve_config
from models.training.loop import train

TINY = {"channel_divisor": 8, "batch_size": 2, "cae_frames": 2, "seq_len": 6}


def _run(data, out, steps, stage, resume=False, init=None, **train_values):
    values = {
        "data": (str(data),), "steps": steps, "num_workers": 0, "device": "cpu",
        "progress": False, "val_every": 0, "sample_every": 0, "log_every": 1,
        "checkpoint_every": 2, **train_values,
    }  # fmt: skip
    base = json.loads((out / "config.json").read_text()) if resume else None
    run = resolve_config(
        "cran", stage=stage, base=base, train_values=values,
        sets=[f"method.{k}={v}" for k, v in TINY.items()],
    )  # fmt: skip
    return train(run, out, resume=resume, init=init)


def test_avprep_train_cran_cli(demo_build, tmp_path):
    out = tmp_path / "cae"
    args = [
        "train", "cran", "--data", str(demo_build), "--out", str(out), "--stage", "cae_gan",
        "--steps", "2", "--device", "cpu", "--workers", "0", "--no-progress",
        "--set", "val_every=2", "--set", "val_split=train", "--set", "val_batches=1",
        "--set", "sample_every=2", "--set", "log_every=1",
        *[a for k, v in TINY.items() for a in ("--set", f"method.{k}={v}")],
    ]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    state = ckpt.load_checkpoint(out)
    assert state["step"] == 2 and state["stage"] == "cae_gan"
    assert set(state["modules"]) == {"audio_encoder", "image_encoder", "decoder", "discriminator"}
    rows = [json.loads(x) for x in (out / "scalars.jsonl").read_text().splitlines()]
    keys = set().union(*rows)
    assert {"loss_rec", "loss_d", "loss_g_adv"} <= keys
    assert any("movement_intensity_generated" in k for k in keys)
    assert any("movement_intensity_real" in k for k in keys)
    assert list((out / "samples").glob("*.png"))
    # asking for the perceptual loss without VGG-Face weights names the file
    other = [str(tmp_path / "p") if a == str(out) else a for a in args]
    bad = CliRunner().invoke(main, [*other, "--set", "perceptual=true"])
    assert bad.exit_code != 0 and "vgg_face_dag.pth" in bad.output


def test_rae_resume_is_exact(demo_build, tmp_path):
    straight = _run(demo_build, tmp_path / "straight", 4, "rae")
    assert straight.step == 4
    _run(demo_build, tmp_path / "split", 2, "rae")
    resumed = _run(demo_build, tmp_path / "split", 4, "rae", resume=True)
    assert resumed.resumed_from == 2
    a, b = ckpt.load_checkpoint(tmp_path / "straight"), ckpt.load_checkpoint(tmp_path / "split")
    assert set(a["modules"]) == {
        "audio_encoder", "image_encoder", "recurrent", "decoder", "discriminator",
    }  # fmt: skip
    for name, state in a["modules"].items():
        for k, v in state.items():
            assert torch.equal(v, b["modules"][name][k]), (name, k)
    la = [json.loads(x) for x in (tmp_path / "straight/scalars.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (tmp_path / "split/scalars.jsonl").read_text().splitlines()]
    assert [r.get("loss_d") for r in la] == [r.get("loss_d") for r in lb]


def test_rae_starts_from_the_cae_run(demo_build, tmp_path):
    cae = tmp_path / "cae"
    _run(demo_build, cae, 2, "cae_gan")
    rae = tmp_path / "rae"
    _run(demo_build, rae, 1, "rae", init=str(cae))
    before, after = ckpt.load_checkpoint(cae), ckpt.load_checkpoint(rae)
    assert set(after["extra"]["initialised_from"]) == {
        "audio_encoder", "image_encoder", "decoder", "discriminator",
    }  # fmt: skip
    # Adam's first step moves each weight by at most ~lr (2e-4): the RAE began at the CAE's
    for name in ("audio_encoder", "image_encoder", "decoder", "discriminator"):
        for k, v in after["modules"][name].items():
            if v.is_floating_point() and "running" not in k:
                assert (v - before["modules"][name][k]).abs().max() <= 2.1e-4, (name, k)


def test_run_records_the_selection_it_trained_on(demo_build, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = pq.read_table(demo_build / "manifest.parquet", columns=["key"])["key"].to_pylist()
    sel = tmp_path / "sel"
    sel.mkdir()
    chosen = [i % 3 != 0 for i in range(len(keys))]
    pq.write_table(pa.table({"key": keys, "selected": chosen}), sel / "selection.parquet")
    out = tmp_path / "run"
    _run(demo_build, out, 1, "cae", selection=str(sel))
    record = ckpt.load_checkpoint(out)["extra"]["selection"]
    assert record["path"] == str(sel) and record["n_keys"] == sum(chosen)
    assert json.loads((out / "selection.json").read_text()) == record
    assert json.loads((out / "config.json").read_text())["train"]["selection"] == str(sel)
