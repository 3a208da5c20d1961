"""CRAN on real shards (the demo build of tests/conftest.py): the stage's view, the
mismatched audio the discriminator gets, and a training step on a loader batch."""

from __future__ import annotations

import numpy as np
import torch

from models.cran.config import CranTrainConfig
from models.cran.trainer import CranCaeGanTrainer
from models.cran.view import cran_view
from models.data import make_loader
from models.training import TrainContext


def test_view_follows_the_stage():
    assert cran_view(CranTrainConfig(stage="rae")).config.seq_len == 70
    assert cran_view(CranTrainConfig(stage="cae", cae_frames=3)).config.seq_len == 3
    v = cran_view(CranTrainConfig(stage="cae_gan", mismatch="shuffle", min_shift=12))
    assert (v.config.mismatch, v.config.min_shift, v.config.stream) == ("shuffle", 12, "crop112")


def test_mismatched_windows_share_no_audio_with_the_frame(demo_build):
    """Every negative window is from other audio: none of its 35 MFCC steps is one of the
    frame's own window (shift >= 9 frames = 36 steps > 35)."""
    cfg = CranTrainConfig(stage="rae", seq_len=12)
    loader = make_loader(demo_build, cran_view(cfg), batch_size=2, shuffle=False)
    n = 0
    for batch in loader:
        mfcc, mis = batch["mfcc"].numpy(), batch["mfcc_mismatch"].numpy()
        assert mfcc.shape[1:] == (12, 12, 35)
        assert (batch["mismatch_shift"].abs() >= 9).all()
        for b in range(len(mfcc)):
            for t in range(12):
                own = {col.tobytes() for col in mfcc[b, t].T}
                assert not any(col.tobytes() in own for col in mis[b, t].T)
                n += 1
    assert n > 0


def test_train_step_on_a_loader_batch(demo_build):
    torch.manual_seed(0)
    cfg = CranTrainConfig(stage="cae_gan", batch_size=2, cae_frames=2, channel_divisor=8)
    tr = CranCaeGanTrainer(cfg, TrainContext(device=torch.device("cpu")))
    loader = make_loader(demo_build, tr.make_view(), batch_size=cfg.batch_size, seed=1)
    batch = next(iter(loader))
    assert batch["frames"].shape == (2, 2, 112, 112, 3) and batch["frames"].dtype == torch.uint8
    scalars = tr.train_step(batch, 0)
    assert all(np.isfinite(v) for v in scalars.values())
    val = tr.validate(batch)
    assert val["movement_intensity_real"] >= 0 and val["movement_intensity_generated"] >= 0
