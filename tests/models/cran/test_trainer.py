"""CRAN trainer steps on tiny synthetic batches shaped like CranView's items (reference
(B,112,112,3) uint8, frames (B,L,112,112,3), mfcc / mfcc_mismatch (B,L,12,35)), with the
networks' widths divided by 8 (the tables' layer structure, 112x112 images)."""

from __future__ import annotations

import copy
import json

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from models.cran.build import check_build
from models.cran.config import CranTrainConfig
from models.cran.trainer import CranCaeGanTrainer, CranCaeTrainer, CranRaeTrainer
from models.methods import load, method, trainer_class
from models.training import TrainContext
from models.training.perceptual import VggFaceWeightsError

CPU = TrainContext(device=torch.device("cpu"))


def smooth_images(rng: np.random.Generator, n: int) -> np.ndarray:
    out = []
    for _ in range(n):
        small = rng.uniform(0, 255, (7, 7, 3)).astype(np.float32)
        out.append(cv2.resize(small, (112, 112), interpolation=cv2.INTER_CUBIC))
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def make_batch(B: int = 2, L: int = 2, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    mfcc = rng.standard_normal((B, L, 12, 35)).astype(np.float32)
    return {
        "reference": torch.from_numpy(smooth_images(rng, B)),
        "frames": torch.from_numpy(smooth_images(rng, B * L).reshape(B, L, 112, 112, 3)),
        "mfcc": torch.from_numpy(mfcc),
        "mfcc_mismatch": torch.from_numpy(np.roll(mfcc, 1, axis=0).copy()),
        "key": [f"k{i}" for i in range(B)],
    }


def tiny(stage: str, **kw) -> CranTrainConfig:
    return CranTrainConfig(stage=stage, batch_size=2, channel_divisor=8, **kw)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> set[str]:
    return {k for k, v in module.named_parameters() if not torch.equal(before[k], v.detach())}


def test_registry_resolves_every_stage():
    spec = method("cran")
    assert load(spec.config) is CranTrainConfig
    assert trainer_class("cran") is CranCaeTrainer
    assert trainer_class("cran", "rae") is CranRaeTrainer
    assert load(spec.check_build) is check_build
    assert load(spec.views["cran"]).name == "cran"


def test_cae_step_updates_encoders_and_decoder():
    torch.manual_seed(0)
    tr = CranCaeTrainer(tiny("cae"), CPU)
    assert set(tr.modules) == {"audio_encoder", "image_encoder", "decoder"}
    before = {n: snapshot(m) for n, m in tr.modules.items()}
    scalars = tr.train_step(make_batch(), 0)
    assert set(scalars) == {"loss_rec", "loss_g"}
    for name, m in tr.modules.items():
        assert changed(before[name], m) == set(before[name]), name


def test_gan_substeps_update_only_their_side():
    torch.manual_seed(0)
    tr = CranCaeGanTrainer(tiny("cae_gan"), CPU)
    b = make_batch()
    d = tr.modules["discriminator"]
    gen = {n: snapshot(m) for n, m in tr.modules.items() if n != "discriminator"}
    d_before = snapshot(d)
    real = tr._images(b, "frames")
    fake, z = tr.generate(tr._images(b, "reference"), b["mfcc"])
    fake = fake.flatten(0, 1)
    tr.discriminator_step(real, fake.detach(), z.detach(), b["mfcc_mismatch"])
    assert changed(d_before, d) == set(d_before)
    for n, snap in gen.items():
        assert not changed(snap, tr.modules[n]), n
    d_before = snapshot(d)
    scalars = tr.generator_step(real, fake, z.detach())
    assert not changed(d_before, d)
    for n, snap in gen.items():
        assert changed(snap, tr.modules[n]) == set(snap), n
    assert {"loss_rec", "loss_g_adv", "loss_g"} <= set(scalars)
    assert all(p.requires_grad for p in d.parameters())


def test_full_gan_step_logs_every_term():
    torch.manual_seed(0)
    tr = CranCaeGanTrainer(tiny("cae_gan"), CPU)
    s = tr.train_step(make_batch(), 0)
    for k in ("loss_d", "loss_d_image", "loss_d_match", "d_real_match", "d_mismatch",
              "d_fake_match", "loss_g_adv", "loss_rec"):  # fmt: skip
        assert np.isfinite(s[k]), k
    expected_g = s["loss_rec"] + 1e-3 * s["loss_g_adv"]
    assert s["loss_g"] == pytest.approx(expected_g, rel=1e-5)


def test_discriminator_sees_really_mismatched_audio(monkeypatch):
    """The matching-aware negatives are the codes of ``mfcc_mismatch`` (not of the frame's own
    window), and the positives are the frames' own codes."""
    torch.manual_seed(0)
    tr = CranCaeGanTrainer(tiny("cae_gan"), CPU)
    b = make_batch(B=3, L=2)
    ea = tr.modules["audio_encoder"]
    with torch.no_grad():
        own = ea(b["mfcc"].reshape(-1, 12, 35))
        other = ea(b["mfcc_mismatch"].reshape(-1, 12, 35))
    seen = {}
    d = tr.modules["discriminator"]
    original = d.forward

    def spy(real, fake, z_audio, z_mismatch):
        seen.update(real=real, z_audio=z_audio, z_mismatch=z_mismatch)
        return original(real, fake, z_audio, z_mismatch)

    monkeypatch.setattr(d, "forward", spy)
    tr.train_step(b, 0)
    assert torch.allclose(seen["z_audio"], own, atol=1e-5)
    assert torch.allclose(seen["z_mismatch"], other, atol=1e-5)
    # every real frame is paired with another frame's code as its negative
    assert (seen["z_mismatch"] - seen["z_audio"]).abs().amax(1).min() > 1e-3
    real = tr._images(b, "frames")
    assert torch.equal(seen["real"], real)


def test_tiny_cae_overfits_one_batch():
    torch.manual_seed(0)
    tr = CranCaeTrainer(tiny("cae", lr=2e-3), CPU)
    b = make_batch(B=2, L=2)
    first = tr.train_step(b, 0)["loss_rec"]
    for step in range(1, 60):
        last = tr.train_step(b, step)["loss_rec"]
    assert last < 0.3 * first, (first, last)


def test_rae_steps_through_the_gru_and_validates():
    torch.manual_seed(0)
    tr = CranRaeTrainer(tiny("rae", seq_len=3), CPU)
    assert "recurrent" in tr.modules and "discriminator" in tr.modules
    before = snapshot(tr.modules["recurrent"])
    b = make_batch(B=2, L=3)
    tr.train_step(b, 0)
    assert changed(before, tr.modules["recurrent"]) == set(before)
    val = tr.validate(b)
    assert {"val_loss_rec", "movement_intensity_generated", "movement_intensity_real"} <= set(val)
    assert 0 < val["val_psnr"] < 100 and -1 <= val["val_ssim"] <= 1
    assert all(m.training for m in tr.modules.values())  # validation restores train mode
    out = tr.sample(b)
    assert out.generated.shape == (2, 3, 112, 112, 3) and out.generated.dtype == np.uint8
    assert out.identity.shape == (2, 112, 112, 3)


def test_rae_is_recurrent_over_time():
    """Frame t's output depends on earlier audio (the GRU), unlike the CAE."""
    torch.manual_seed(0)
    rae = CranRaeTrainer(tiny("rae", seq_len=3), CPU)
    cae = CranCaeTrainer(tiny("cae"), CPU)
    b = make_batch(B=2, L=3)
    b2 = copy.deepcopy(b)
    b2["mfcc"][:, 0] += 5.0  # change only frame 0's audio
    for tr, expect_change in ((rae, True), (cae, False)):
        for m in tr.modules.values():
            m.eval()
        with torch.no_grad():
            ref = tr._images(b, "reference")
            y1, _ = tr.generate(ref, b["mfcc"], train=False)
            y2, _ = tr.generate(ref, b2["mfcc"], train=False)
        assert (not torch.allclose(y1[:, 2], y2[:, 2])) == expect_change


def test_rae_starts_from_cae_weights():
    torch.manual_seed(0)
    cae = CranCaeGanTrainer(tiny("cae_gan"), CPU)
    cae.train_step(make_batch(), 0)
    checkpoint = {"modules": {n: copy.deepcopy(m.state_dict()) for n, m in cae.modules.items()}}
    torch.manual_seed(1)
    rae = CranRaeTrainer(tiny("rae", seq_len=2), CPU)
    gru_before = snapshot(rae.modules["recurrent"])
    rae.init_from(checkpoint)
    for name in ("audio_encoder", "image_encoder", "decoder", "discriminator"):
        for k, v in rae.modules[name].state_dict().items():
            assert torch.equal(v, checkpoint["modules"][name][k]), (name, k)
    assert not changed(gru_before, rae.modules["recurrent"])  # a fresh GRU
    assert set(rae.extra_state()["initialised_from"]) == {
        "audio_encoder", "image_encoder", "decoder", "discriminator",
    }  # fmt: skip
    with pytest.raises(ValueError, match="image_encoder"):
        rae.init_from({"modules": {"audio_encoder": checkpoint["modules"]["audio_encoder"]}})


def test_config_errors():
    with pytest.raises(ValueError, match="stage"):
        CranTrainConfig(stage="gan")
    with pytest.raises(ValueError, match="batch_size"):
        CranTrainConfig(batch_size=1)
    with pytest.raises(ValueError, match="gru_hidden"):
        CranTrainConfig(gru_hidden=300)
    with pytest.raises(ValueError, match="'rae'"):
        CranRaeTrainer(tiny("cae"), CPU)
    assert not CranTrainConfig(stage="cae").use_adversarial
    assert CranTrainConfig(stage="rae").use_adversarial
    assert CranTrainConfig(stage="rae").frames_per_item == 70


def test_perceptual_loss_needs_weights_and_uses_them(tmp_path):
    with pytest.raises(VggFaceWeightsError, match="vgg_face_dag.pth"):
        CranCaeGanTrainer(tiny("cae_gan", perceptual=True), CPU)
    g = torch.Generator().manual_seed(0)
    state = {
        "conv1_1.weight": torch.randn(64, 3, 3, 3, generator=g) * 0.1,
        "conv1_1.bias": torch.zeros(64),
        "conv1_2.weight": torch.randn(64, 64, 3, 3, generator=g) * 0.05,
        "conv1_2.bias": torch.zeros(64),
    }
    torch.save(state, tmp_path / "vgg_face_dag.pth")
    cfg = tiny(
        "cae_gan", perceptual=True, vgg_face_weights=str(tmp_path / "vgg_face_dag.pth"),
        perceptual_layers=("relu1_2",),
    )  # fmt: skip
    tr = CranCaeGanTrainer(cfg, CPU)
    s = tr.train_step(make_batch(), 0)
    assert s["loss_perceptual"] > 0
    assert s["loss_g"] == pytest.approx(
        s["loss_rec"] + 1e-4 * s["loss_perceptual"] + 1e-3 * s["loss_g_adv"], rel=1e-5
    )
    assert "vgg" not in tr.modules  # external weights are not part of the checkpoint
    # ... but the run records them (path + sha256) and resumes only with the same file
    saved = tr.extra_state()
    assert saved["vgg_face"]["path"] == str(tmp_path / "vgg_face_dag.pth")
    assert len(saved["vgg_face"]["sha256"]) == 64
    tr.load_extra_state(saved)
    other = dict(saved, vgg_face={"path": "old/vgg_face_dag.pth", "sha256": "0" * 64})
    with pytest.raises(ValueError, match="same weights file"):
        tr.load_extra_state(other)


def test_run_records_its_selection(tmp_path):
    sel = tmp_path / "sel"
    sel.mkdir()
    table = pa.table({"key": ["a", "b", "c"], "selected": [True, False, True]})
    pq.write_table(table, sel / "selection.parquet")
    run = tmp_path / "run"
    run.mkdir()
    # the core writes the run's config.json (with --selection) before building the trainer
    (run / "config.json").write_text(json.dumps({"train": {"selection": str(sel)}}))
    ctx = TrainContext(device=torch.device("cpu"), run_dir=str(run))
    tr = CranCaeTrainer(tiny("cae"), ctx)
    rec = tr.extra_state()["selection"]
    assert rec["n_keys"] == 2 and rec["path"] == str(sel) and len(rec["sha256"]) == 64
    assert (run / "selection.json").is_file()
    other = dict(rec, sha256="0" * 64, path="elsewhere")
    with pytest.raises(ValueError, match="same --selection"):
        tr.load_extra_state({"selection": other})
    (run / "config.json").write_text(json.dumps({"train": {"selection": str(tmp_path / "no")}}))
    with pytest.raises(FileNotFoundError, match="select-samples"):
        CranCaeTrainer(tiny("cae"), ctx)
    assert CranCaeTrainer(tiny("cae"), CPU).extra_state()["selection"] is None


def test_check_build_names_the_fixing_option():
    ok = {"config": {"face_backend": "dlib", "features": ["mfcc_cran"], "face_options": {}}}
    assert check_build(ok, "rae") == []
    no_face = {"config": {"face_backend": "none", "features": ["mfcc_davs"]}}
    problems = check_build(no_face, "cae")
    assert any("--face-backend" in p for p in problems)
    assert any("mfcc_cran" in p and "--features" in p for p in problems)
    no_pose = {
        "config": {"face_backend": "dlib", "features": ["mfcc_cran"],
                   "face_options": {"max_yaw": 180.0}},
    }  # fmt: skip
    assert any("--face-max-yaw" in p for p in check_build(no_pose, "rae"))
    # the CRAN crop size, by its current name or the name older build.json files hold
    for key in ("crop_size_cran", "crop_size_small"):
        small = {"config": {**ok["config"], "face_options": {key: 96}}}
        assert any("crop_size_cran=112" in p for p in check_build(small, "rae")), key
