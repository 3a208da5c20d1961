"""DVAE networks and trainer steps on tiny synthetic batches shaped like the views' items."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from models.dvae.config import DvaeTrainConfig, check_build
from models.dvae.losses import table_logits
from models.dvae.networks import (
    DisentangledAudioVAE,
    FrameCritic,
    MouthLandmarkRegressor,
    UNetGenerator,
    VideoCritic,
    generate_sequence,
)
from models.dvae.normalize import SpectrogramStats, stats_from_tracks
from models.dvae.trainer import GanTrainer, LandmarkTrainer, VaeTrainer
from models.methods import method, trainer_class
from models.training.loop import _headline
from models.training.method import TrainContext

CPU = torch.device("cpu")


def test_full_size_shapes():
    """The paper's sizes on batch 1: 200 bins x 20 steps, LSTMs 2 x 256, latents 32."""
    torch.manual_seed(0)
    vae = DisentangledAudioVAE(n_sequences=3)
    x = torch.randn(1, 20, 200)
    out = vae(x)
    assert out.z_content.shape == out.z_emotion.shape == out.z_sequence.shape == (1, 32)
    assert out.px_mu.shape == out.px_logvar.shape == (1, 20, 200)
    assert vae.content_encoder.lstm.num_layers == 2 and vae.content_encoder.lstm.hidden_size == 256
    assert vae.viseme_prior.means.shape == (21, 32) and vae.emotion_prior.means.shape == (6, 32)
    # by hand: LSTM layer = 4 gates x (in*h + h*h + 2 biases*h); "all_h" of 2 layers -> 512
    lstm = 4 * (200 * 256 + 256 * 256 + 2 * 256) + 4 * (256 * 256 + 256 * 256 + 2 * 256)
    heads = 2 * (512 * 32 + 32)
    n_params = sum(p.numel() for p in vae.content_encoder.parameters())
    assert n_params == lstm + heads
    with torch.no_grad():
        g = UNetGenerator()
        face = torch.zeros(1, 3, 256, 256)
        assert g(face, face, torch.zeros(1, 32)).shape == (1, 3, 256, 256)
        score, logits = FrameCritic()(face, torch.zeros(1, 32))
        assert score.shape == (1,) and logits.shape == (1, 21)
        assert VideoCritic()(torch.zeros(1, 2, 3, 256, 256), torch.zeros(1, 2, 32)).shape == (1,)
        assert MouthLandmarkRegressor()(face).shape == (1, 20, 2)


def test_autoregressive_generation_feeds_previous_frame():
    torch.manual_seed(0)
    g = UNetGenerator(z_dim=4, ngf=4, depth=4)
    face = torch.randn(2, 3, 16, 16)
    z = torch.randn(2, 3, 4)
    seq = generate_sequence(g, face, z)
    assert seq.shape == (2, 3, 3, 16, 16)
    torch.testing.assert_close(seq[:, 1], g(face, seq[:, 0], z[:, 1]))
    torch.testing.assert_close(seq[:, 0], g(face, face, z[:, 0]))


def _tiny_config(**kw) -> DvaeTrainConfig:
    base = dict(n_bins=12, segment_steps=5, lstm_hidden=24, lstm_layers=2, z_content=4,
                z_emotion=4, z_sequence=4, n_visemes=3, n_emotions=2, batch_size=8)  # fmt: skip
    base.update(kw)
    return DvaeTrainConfig(**base)


def _viseme_batch(n=32, seed=0):
    """Two synthetic 'visemes': energy in the low or the high half of the bins."""
    g = np.random.default_rng(seed)
    vis = np.arange(n) % 2
    seg = g.normal(0, 0.3, (n, 5, 12)).astype(np.float32)
    seg[vis == 0, :, :6] += 2.0
    seg[vis == 1, :, 6:] += 2.0
    return {
        "segment": torch.from_numpy(seg), "viseme_id": torch.from_numpy(vis + 1),
        "emotion_id": torch.from_numpy(g.integers(0, 2, n)),
        "sequence_id": torch.from_numpy(np.arange(n) % 4), "n_segments": torch.full((n,), 8),
    }  # fmt: skip


def _vae_trainer(**kw) -> VaeTrainer:
    tr = VaeTrainer(_tiny_config(lr_vae=1e-2, **kw), TrainContext(device=CPU))
    # a unit test has no --data: a 4-sequence table and identity normalisation by hand
    tr.sequence_ids = {f"k{i}": i for i in range(4)}
    vae = tr.modules["vae"]
    vae.sequence_prior.means = torch.nn.Parameter(torch.randn(4, 4))
    tr.optimizers["vae"] = torch.optim.Adam(vae.parameters(), lr=1e-2, betas=(0.95, 0.999))
    tr.set_normalization(SpectrogramStats(np.zeros(12, np.float32), np.ones(12, np.float32)))
    return tr


def test_tiny_vae_learns_fixed_batch_and_separates_visemes():
    torch.manual_seed(0)
    tr = _vae_trainer()
    batch = _viseme_batch()
    losses = [tr.train_step(batch, s)["loss"] for s in range(120)]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    vae = tr.modules["vae"]
    with torch.no_grad():
        mu = vae.encode_content(batch["segment"])[0]
        pred = table_logits(mu, vae.viseme_prior.means, 0.25).argmax(1)
    assert (pred == batch["viseme_id"]).float().mean() == 1.0
    val = tr.validate(batch)
    assert val["acc_viseme"] == 1.0 and "probe/content_viseme" in val


def test_vae_without_labels_drops_their_terms():
    torch.manual_seed(0)
    tr = _vae_trainer()
    batch = _viseme_batch(8)
    batch["sequence_id"] = torch.full((8,), -1)
    batch["emotion_id"] = torch.full((8,), -1)
    out = tr.validate(batch)
    assert out["log_p_sequence"] == 0.0 and out["log_p_emotion"] == 0.0
    assert "acc_emotion" not in out and "probe/content_emotion" not in out


def test_landmark_trainer_fits_fixed_batch():
    torch.manual_seed(0)
    tr = LandmarkTrainer(
        _tiny_config(landmark_width=4, lr_landmarks=1e-2), TrainContext(device=CPU)
    )
    g = np.random.default_rng(0)
    batch = {
        "frames": torch.from_numpy(g.integers(0, 255, (2, 2, 64, 64, 3), dtype=np.uint8)),
        # one mouth shape, away from the regressor's initial mean (the crop centre)
        "mouth_landmarks": torch.from_numpy(
            np.broadcast_to(g.uniform(150, 190, (20, 2)), (2, 2, 20, 2)).astype(np.float32)
        ),
    }
    first = tr.train_step(batch, 0)["loss"]
    for s in range(1, 60):
        last = tr.train_step(batch, s)["loss"]
    assert last < 0.5 * first


def _gan_batch(b=2, L=3, side=32, seed=0):
    g = np.random.default_rng(seed)
    return {
        "frames": torch.from_numpy(g.integers(0, 255, (b, L, side, side, 3), dtype=np.uint8)),
        "reference": torch.from_numpy(g.integers(0, 255, (b, side, side, 3), dtype=np.uint8)),
        "segments": torch.from_numpy(g.normal(0, 1, (b, L, 5, 12)).astype(np.float32)),
        "segments_noise-30db": torch.from_numpy(g.normal(0, 1, (b, L, 5, 12)).astype(np.float32)),
        "viseme_ids": torch.from_numpy(g.integers(0, 3, (b, L))),
        "mouth_landmarks": torch.from_numpy(g.uniform(5, 25, (b, L, 20, 2)).astype(np.float32)),
    }


def _gan_trainer(tmp_path) -> GanTrainer:
    vae_tr = _vae_trainer()
    stats = SpectrogramStats(np.full(12, 0.5, np.float32), np.full(12, 2.0, np.float32))
    vae_tr.set_normalization(stats)
    torch.save({"modules": {"vae": vae_tr.modules["vae"].state_dict()},
                "extra_state": vae_tr.extra_state()}, tmp_path / "vae.pt")  # fmt: skip
    lm = MouthLandmarkRegressor(4)
    torch.save({"modules": {"landmarks": lm.state_dict()}}, tmp_path / "lm.pt")
    cfg = _tiny_config(seq_len=3, ngf=4, unet_depth=4, ndf=4, d_frame_layers=2,
                       d_video_channels=(4, 8), landmark_width=4, n_critic=2,
                       vae_checkpoint=str(tmp_path / "vae.pt"),
                       landmark_checkpoint=str(tmp_path / "lm.pt"),
                       val_noise_db=(-30.0,))  # fmt: skip
    tr = GanTrainer(cfg, TrainContext(device=CPU))
    np.testing.assert_array_equal(tr.stats.mean, stats.mean)
    (tmp_path / "vae_run/checkpoints").mkdir(parents=True, exist_ok=True)  # a run: latest
    (tmp_path / "vae.pt").replace(tmp_path / "vae_run/checkpoints/step-00000002.pt")
    run_cfg = dataclasses.replace(cfg, vae_checkpoint=str(tmp_path / "vae_run"))
    assert GanTrainer(run_cfg, TrainContext(device=CPU)).loaded["vae"]
    return tr


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(module, before):
    return any(not torch.equal(a, b) for a, b in zip(_snapshot(module), before, strict=True))


def test_gan_steps_update_what_they_should(tmp_path):
    torch.manual_seed(0)
    tr = _gan_trainer(tmp_path)
    batch = _gan_batch()
    snap = {k: _snapshot(m) for k, m in tr.modules.items()}
    out = tr.train_step(batch, 0)  # step 0: critics and generator
    assert {"loss_d", "loss_g", "g_landmark", "gp_frame", "gp_video"} <= out.keys()
    # the totals are loss_* scalars, as CRAN's and DAVS's: the progress bar and
    # benchmarks/results_demo.py pick them by that prefix
    assert _headline(out).keys() == {"loss_d", "loss_g"}
    assert _changed(tr.modules["generator"], snap["generator"])
    assert _changed(tr.modules["frame_critic"], snap["frame_critic"])
    assert _changed(tr.modules["video_critic"], snap["video_critic"])
    assert not _changed(tr.modules["vae"], snap["vae"])
    assert not _changed(tr.modules["landmarks"], snap["landmarks"])
    g_before = _snapshot(tr.modules["generator"])
    c_before = _snapshot(tr.modules["frame_critic"])
    out = tr.train_step(batch, 1)  # n_critic = 2: critics only
    assert "loss_g" not in out and _headline(out).keys() == {"loss_d"}
    assert not _changed(tr.modules["generator"], g_before)
    assert _changed(tr.modules["frame_critic"], c_before)
    val = tr.validate(batch)
    assert {"lmd/clean", "lmd/noise-30db", "lmd_stored/clean", "psnr", "ssim", "l1"} <= val.keys()
    sample = tr.sample(batch)
    assert sample.generated.shape == (2, 3, 32, 32, 3) and sample.generated.dtype == np.uint8


def test_gan_without_stage_one_says_what_is_missing():
    cfg = _tiny_config(ngf=4, unet_depth=4, ndf=4, d_frame_layers=2, d_video_channels=(4,))
    tr = GanTrainer(cfg, TrainContext(device=CPU))
    with pytest.raises(RuntimeError, match="stage-1 VAE"):
        tr.train_step(_gan_batch(), 0)


def test_normalization_stats_and_state_round_trip():
    tracks = [np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[4.0, 5.0]])]
    st = stats_from_tracks(tracks)
    np.testing.assert_allclose(st.mean, [2.0, 3.0])
    np.testing.assert_allclose(st.std, np.std([0.0, 2.0, 4.0]))
    back = SpectrogramStats.from_state(st.state())
    np.testing.assert_array_equal(back.normalize(np.ones((1, 2))), st.normalize(np.ones((1, 2))))


def test_registry_and_check_build():
    spec = method("dvae")
    assert set(spec.stages) == {"vae", "landmarks", "gan"}
    assert trainer_class("dvae", "gan") is GanTrainer
    info = {"config": {"features": ["mfcc_davs"], "aligner": "none", "face_backend": "none"}}
    probs = " ".join(check_build(info, "gan"))
    assert "--features logspec_dvae" in probs and "--aligner" in probs and "--face-backend" in probs
    ok = {
        "config": {"features": ["logspec_dvae"], "aligner": "pocketsphinx", "face_backend": "dlib"}
    }
    assert check_build(ok, "vae") == [] and check_build(ok, "gan") == []
    assert DvaeTrainConfig(stage="gan").batch_size == 4
    # the core applies --stage to the defaults with dataclasses.replace: the default follows
    assert dataclasses.replace(DvaeTrainConfig(), stage="gan").batch_size == 4
    mine = dataclasses.replace(DvaeTrainConfig(), batch_size=32)
    assert dataclasses.replace(mine, stage="gan").batch_size == 32
    with pytest.raises(ValueError, match="stage"):
        DvaeTrainConfig(stage="nope")


def _checkpoint(tr) -> bytes:
    """What the core checkpoints for a trainer (modules, optimisers, extra state, torch RNG)."""
    buf = io.BytesIO()
    torch.save({
        "modules": {k: m.state_dict() for k, m in tr.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in tr.optimizers.items()},
        "extra_state": tr.extra_state(), "rng": torch.get_rng_state(),
    }, buf)  # fmt: skip
    return buf.getvalue()


def _restore(tr, data: bytes) -> None:
    ck = torch.load(io.BytesIO(data), weights_only=False)
    for k, m in tr.modules.items():
        m.load_state_dict(ck["modules"][k])
    for k, o in tr.optimizers.items():
        o.load_state_dict(ck["optimizers"][k])
    tr.load_extra_state(ck["extra_state"])
    torch.set_rng_state(ck["rng"])


def _params(tr):
    return {f"{k}.{n}": p.detach().clone() for k, m in tr.modules.items()
            for n, p in m.named_parameters()}  # fmt: skip


@pytest.mark.parametrize("stage", ["vae", "gan"])
def test_exact_resume_from_trainer_state(stage, tmp_path):
    """Steps after a restore equal the uninterrupted run's bit for bit: the trainers keep no
    state outside modules, optimisers and extra_state."""
    torch.manual_seed(0)
    make = _vae_trainer if stage == "vae" else (lambda: _gan_trainer(tmp_path))
    batches = [_viseme_batch(8, seed=i) if stage == "vae" else _gan_batch(seed=i) for i in range(5)]
    tr = make()
    for s in range(3):
        tr.train_step(batches[s], s)
    saved = _checkpoint(tr)
    for s in (3, 4):
        tr.train_step(batches[s], s)
    want = _params(tr)
    torch.manual_seed(123)  # a fresh process: other initial weights, other RNG
    fresh = make()
    _restore(fresh, saved)
    for s in (3, 4):
        fresh.train_step(batches[s], s)
    got = _params(fresh)
    assert got.keys() == want.keys()
    for k in want:
        assert torch.equal(got[k], want[k]), k


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_stages_on_cuda_with_bf16_autocast(tmp_path):
    dev = torch.device("cuda")
    ctx = TrainContext(device=dev, amp_dtype=torch.bfloat16, channels_last=True)
    torch.manual_seed(0)
    vae_tr = VaeTrainer(DvaeTrainConfig(), ctx)
    vae_tr.set_normalization(SpectrogramStats(np.zeros(200, np.float32), np.ones(200, np.float32)))
    g = np.random.default_rng(0)
    batch = {
        "segment": torch.from_numpy(g.normal(0, 1, (16, 20, 200)).astype(np.float32)).to(dev),
        "viseme_id": torch.from_numpy(g.integers(0, 21, 16)).to(dev),
        "emotion_id": torch.from_numpy(g.integers(0, 6, 16)).to(dev),
        "sequence_id": torch.zeros(16, dtype=torch.int64, device=dev),
        "n_segments": torch.full((16,), 50, device=dev),
    }
    out = vae_tr.train_step(batch, 0)
    assert np.isfinite(out["loss"])
    torch.save({"modules": {"vae": vae_tr.modules["vae"].state_dict()},
                "extra_state": vae_tr.extra_state()}, tmp_path / "vae.pt")  # fmt: skip
    _vgg_file(tmp_path / "vgg_face_dag.pth")  # the perceptual loss at 224x224 under bf16
    cfg = DvaeTrainConfig(stage="gan", seq_len=4, vae_checkpoint=str(tmp_path / "vae.pt"),
                          landmark_weight=0.0, perceptual=True,
                          vgg_face_weights=str(tmp_path / "vgg_face_dag.pth"),
                          perceptual_layers=("relu1_2", "relu2_2"))  # fmt: skip
    gan = GanTrainer(cfg, ctx)
    fb = {k: v.to(dev) for k, v in _gan_batch(b=2, L=4, side=256).items()}
    fb["segments"] = torch.randn(2, 4, 20, 200, device=dev)
    fb.pop("segments_noise-30db")
    fb["viseme_ids"] = fb["viseme_ids"].clamp(max=20)
    out = gan.train_step(fb, 0)
    assert np.isfinite(out["loss_g"]) and np.isfinite(out["loss_d"])
    assert np.isfinite(out["g_perceptual"]) and out["g_perceptual"] > 0


# ----------------------------------------------------------------------------- perceptual

# the first two VGG-16 blocks of the public vgg_face_dag.pth layout (name, in, out)
_VGG_CONVS = [("conv1_1", 3, 64), ("conv1_2", 64, 64), ("conv2_1", 64, 128), ("conv2_2", 128, 128)]


def _vgg_file(path, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, cin, cout in _VGG_CONVS:
        state[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        state[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.01
    torch.save(state, path)
    return state


def _vgg_reference(state, x, size):
    """relu1_2 and relu2_2 of a plain VGG-16 forward at ``size``x``size`` (bilinear,
    antialiased), on 0..255 RGB minus VGG-Face's mean."""
    import torch.nn.functional as F

    from models.training.perceptual import VGG_FACE_MEAN_RGB

    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    h = (x + 1) * 127.5 - torch.tensor(VGG_FACE_MEAN_RGB).view(1, 3, 1, 1)
    feats = []
    for name, _, _ in _VGG_CONVS:
        h = F.relu(F.conv2d(h, state[f"{name}.weight"], state[f"{name}.bias"], padding=1))
        if name.endswith("_2"):
            feats.append(h)
            h = F.max_pool2d(h, 2)
    return feats


def _perceptual_trainer(tmp_path, weights, weight=0.5):
    base = _gan_trainer(tmp_path)
    cfg = dataclasses.replace(
        base.config, perceptual=True, vgg_face_weights=str(weights), perceptual_weight=weight,
        perceptual_layers=("relu1_2", "relu2_2"), perceptual_size=24,
        vae_checkpoint=str(tmp_path / "vae_run"),
    )  # fmt: skip
    return GanTrainer(cfg, TrainContext(device=CPU))


def test_gan_perceptual_term_is_weighted_vgg_face_loss_on_g_only(tmp_path, monkeypatch):
    import models.dvae.trainer as dvae_trainer

    torch.manual_seed(0)
    state = _vgg_file(tmp_path / "vgg_face_dag.pth")
    tr = _perceptual_trainer(tmp_path, tmp_path / "vgg_face_dag.pth", weight=0.5)
    assert "vgg" not in tr.modules  # the user's weights are not part of the checkpoint
    seen = {}
    real_loss = dvae_trainer.perceptual_loss

    def spy(vgg, generated, target):
        value = real_loss(vgg, generated, target)
        gen_params = list(tr.modules["generator"].parameters())
        grads = torch.autograd.grad(value, gen_params, retain_graph=True)
        seen.update(
            generated=generated.detach().clone(), target=target.detach().clone(), value=value,
            g_grad=sum(float(g.abs().sum()) for g in grads),
            target_grad=target.requires_grad, generated_grad=generated.requires_grad,
            frozen=[p.requires_grad for n in ("frame_critic", "video_critic", "vae", "landmarks")
                    for p in tr.modules[n].parameters()] + [p.requires_grad
                                                            for p in vgg.parameters()],
        )  # fmt: skip
        return value

    monkeypatch.setattr(dvae_trainer, "perceptual_loss", spy)
    vgg_before = [p.detach().clone() for p in tr.vgg.parameters()]
    batch = _gan_batch()
    out = tr.train_step(batch, 0)
    # the value is the VGG-Face loss of the generated vs the real frames, by hand
    ref_g = _vgg_reference(state, seen["generated"], 24)
    ref_t = _vgg_reference(state, seen["target"], 24)
    expected = sum(float((a - b).abs().mean()) for a, b in zip(ref_g, ref_t, strict=True))
    assert out["g_perceptual"] == pytest.approx(expected, rel=1e-4)
    real = batch["frames"].flatten(0, 1).movedim(-1, 1).float() / 127.5 - 1
    torch.testing.assert_close(seen["target"], real)
    # ... and enters G's loss times its weight
    rest = out["g_adv"] + out["g_viseme_ce"] + 100 * out["g_l1"] + 100 * out["g_landmark"]
    assert out["loss_g"] == pytest.approx(rest + 0.5 * expected, rel=1e-5)
    # gradients reach G only: generated frames carry a graph, targets, critics, VAE,
    # regressor and VGG-Face do not
    assert seen["generated_grad"] and not seen["target_grad"] and seen["g_grad"] > 0
    assert not any(seen["frozen"])
    assert all(p.grad is None for p in tr.vgg.parameters())
    assert all(torch.equal(a, b) for a, b in zip(tr.vgg.parameters(), vgg_before, strict=True))
    assert "g_perceptual" not in tr.train_step(batch, 1)  # critic-only step


def test_gan_perceptual_needs_its_weights_file(tmp_path):
    from models.training.perceptual import VggFaceWeightsError

    base = _gan_trainer(tmp_path)
    assert base.vgg is None and base.extra_state()["vgg_face"] is None  # off by default
    on = dataclasses.replace(base.config, perceptual=True, vae_checkpoint=str(tmp_path / "vae_run"))
    with pytest.raises(VggFaceWeightsError, match="vgg_face_dag.pth"):
        GanTrainer(on, TrainContext(device=CPU))
    missing = dataclasses.replace(on, vgg_face_weights=str(tmp_path / "nowhere/vgg_face_dag.pth"))
    with pytest.raises(VggFaceWeightsError, match="nowhere"):
        GanTrainer(missing, TrainContext(device=CPU))


def test_gan_resume_refuses_other_vgg_face_weights(tmp_path):
    import hashlib

    _vgg_file(tmp_path / "a.pth", seed=0)
    _vgg_file(tmp_path / "b.pth", seed=1)
    tr = _perceptual_trainer(tmp_path, tmp_path / "a.pth")
    saved = tr.extra_state()
    digest = hashlib.sha256((tmp_path / "a.pth").read_bytes()).hexdigest()
    assert saved["vgg_face"] == {"path": str(tmp_path / "a.pth"), "sha256": digest}
    _perceptual_trainer(tmp_path, tmp_path / "a.pth").load_extra_state(saved)  # same file: ok
    with pytest.raises(ValueError, match="same weights"):
        _perceptual_trainer(tmp_path, tmp_path / "b.pth").load_extra_state(saved)
    off = GanTrainer(dataclasses.replace(tr.config, perceptual=False), TrainContext(device=CPU))
    with pytest.raises(ValueError, match="same weights"):
        off.load_extra_state(saved)
    with pytest.raises(ValueError, match="without the perceptual loss"):
        tr.load_extra_state(off.extra_state())
