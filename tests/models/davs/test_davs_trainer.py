"""DAVS stage trainers on tiny synthetic batches (no shards, no core loop)."""

from __future__ import annotations

import pytest
import torch

from models.davs.trainer import DavsIdentityTrainer, DavsJointTrainer, DavsWordTrainer
from models.methods import METHODS, load
from tests.models.davs.davs_fixtures import clip_batch, cpu_context, identity_batch, tiny_config

# parameters the official classes register but never use in a forward pass
UNUSED = {
    "lip_feature_encoder": ("model.conv5.", "model.conv6.", "model.fc."),
    "mfcc_encoder": ("model1.bn5.",),
    "model_fusion": ("dis.",),
    "netD_mul": ("conv8.", "bn7.", "bn8.", "bn9."),
}


def _snapshot(trainer):
    return {
        (name, k): v.detach().clone()
        for name, m in trainer.modules.items()
        for k, v in m.state_dict().items()
    }


def _changed(trainer, before):
    after = {(n, k): v for n, m in trainer.modules.items() for k, v in m.state_dict().items()}
    return {key for key, v in before.items() if not torch.equal(v, after[key])}


def _param_keys(trainer):
    return {(n, k) for n, m in trainer.modules.items() for k, _ in m.named_parameters()}


def _should_change(trainer, key, frozen=()):
    name, k = key
    return name not in frozen and not k.startswith(UNUSED.get(name, ()))


def test_joint_step_changes_every_trainable_parameter_and_no_frozen_one():
    torch.manual_seed(0)
    cfg = tiny_config(frozen=("mfcc_encoder",))
    trainer = DavsJointTrainer(cfg, cpu_context())
    assert set(trainer.modules) == {
        "Decoder", "ID_encoder", "model_fusion", "mfcc_encoder", "lip_feature_encoder",
        "netD_mul", "discriminator_audio", "ID_lip_discriminator",
    }  # fmt: skip
    before = _snapshot(trainer)
    scalars = trainer.train_step(clip_batch(), 0)
    assert all(isinstance(v, float) and v == v for v in scalars.values())
    changed = _changed(trainer, before)
    params = _param_keys(trainer)
    expected = {k for k in params if _should_change(trainer, k, cfg.frozen)}
    assert expected - changed == set(), "trainable parameters left unchanged"
    assert (params - expected) & changed == set(), "frozen/unused parameters changed"
    # a frozen module also keeps its BatchNorm statistics (it runs in eval mode)
    assert not any(name == "mfcc_encoder" for name, _ in changed)
    for name, m in trainer.modules.items():  # D trainable again; never-used layers never
        for k, p in m.named_parameters():
            assert p.requires_grad == _should_change(trainer, (name, k), cfg.frozen), (name, k)


def test_word_and_identity_steps_change_their_modules():
    torch.manual_seed(0)
    word = DavsWordTrainer(tiny_config(stage="word"), cpu_context())
    assert set(word.modules) == {
        "mfcc_encoder",
        "lip_feature_encoder",
        "model_fusion",
        "discriminator_audio",
    }
    before = _snapshot(word)
    word.train_step(clip_batch(), 0)
    changed = _changed(word, before)
    assert {k for k in _param_keys(word) if _should_change(word, k)} <= changed

    ident = DavsIdentityTrainer(tiny_config(stage="identity", person_classes=3), cpu_context())
    before = _snapshot(ident)
    out = ident.train_step(identity_batch(), 0)
    assert set(out) == {"person_ce", "person_acc"}
    assert _param_keys(ident) <= _changed(ident, before)
    assert ident.modules["Face_ID_fc"].fc.out_features == 3


def test_tiny_joint_model_overfits_one_batch():
    torch.manual_seed(0)
    cfg = tiny_config(
        width=1 / 8, pred_length=6, sequence_length=3, disfc_length=4, lr=3e-3,
        sequence_gan=False, lambda_uniform=1.0,
    )  # fmt: skip
    trainer = DavsJointTrainer(cfg, cpu_context())
    batch = clip_batch(length=cfg.clip_frames)
    history = [trainer.train_step(batch, s) for s in range(60)]
    first, last = history[0], history[-3:]
    l1 = sum(h["l1_audio"] + h["l1_image"] for h in last) / 3
    ce = sum(h["audio_ce"] + h["image_ce"] for h in last) / 3
    assert l1 < (first["l1_audio"] + first["l1_image"]) / 3
    assert ce < (first["audio_ce"] + first["image_ce"]) / 20


def test_frame_sampling_follows_the_official_code(monkeypatch):
    """12 frames every other frame from a start in {0, 1}; 20 consecutive for the pid
    classifier; the generated 6 are consecutive entries of the 12."""
    trainer = DavsJointTrainer(tiny_config(), cpu_context())
    starts = {tuple(trainer._pred_indices(24).tolist()) for _ in range(40)}
    assert starts == {tuple(range(0, 24, 2)), tuple(range(1, 24, 2))}
    with pytest.raises(ValueError, match="24 frames"):
        trainer._pred_indices(22)
    assert trainer.config.clip_frames == 24
    assert trainer.make_view().config.seq_len == 24


def test_bad_batches_fail_clearly():
    trainer = DavsJointTrainer(tiny_config(), cpu_context())
    batch = clip_batch()
    batch["word_id"] = torch.tensor([-1, 3])
    with pytest.raises(ValueError, match="word ids"):
        trainer.train_step(batch, 0)
    with pytest.raises(ValueError, match="frozen"):
        DavsJointTrainer(tiny_config(frozen=("Face_ID_fc",)), cpu_context())
    with pytest.raises(ValueError, match="stage"):
        tiny_config(stage="pretrain")


def test_sample_and_validate_shapes():
    torch.manual_seed(0)
    trainer = DavsJointTrainer(tiny_config(), cpu_context())
    batch = clip_batch()
    out = trainer.sample(batch)
    assert out.identity.shape == (2, 64, 64, 3) and out.identity.dtype.name == "uint8"
    assert out.truth.shape == out.generated.shape == (2, 24, 64, 64, 3)
    assert out.audio.shape == (2, 24 * 640)
    scalars = trainer.validate(batch)
    assert {"l1_from_audio", "l1_from_video", "audio_acc", "image_acc", "fused_acc"} <= set(scalars)
    assert all(m.training for m in trainer.modules.values())


def test_registry_entry():
    spec = METHODS["davs"]
    assert list(spec.stages) == ["joint", "word", "identity"]
    assert load(spec.stages["word"]) is DavsWordTrainer
    assert load(spec.config)().batch_size == 16
    assert load(spec.views["davs_identity"]).name == "davs_identity"


def test_joint_stage_starts_from_the_pretraining_stages():
    """--init: the word stage's wid encoders and classifier, the identity stage's pid encoder."""
    torch.manual_seed(0)
    word = DavsWordTrainer(tiny_config(stage="word"), cpu_context())
    ident = DavsIdentityTrainer(tiny_config(stage="identity", person_classes=3), cpu_context())
    joint = DavsJointTrainer(tiny_config(), cpu_context())
    for stage in (word, ident):
        joint.init_from({"modules": {n: m.state_dict() for n, m in stage.modules.items()}})
    for name in ("mfcc_encoder", "lip_feature_encoder", "model_fusion", "discriminator_audio"):
        for k, v in joint.modules[name].state_dict().items():
            assert torch.equal(v, word.modules[name].state_dict()[k]), (name, k)
    for k, v in joint.modules["ID_encoder"].state_dict().items():
        assert torch.equal(v, ident.modules["ID_encoder"].state_dict()[k]), k
