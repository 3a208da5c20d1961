"""Full-size CRAN on CUDA: bf16 autocast and channels_last, a 70-frame RAE step (skipped
without a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.cran.config import CranTrainConfig
from models.cran.trainer import CranRaeTrainer
from models.training import TrainContext

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_full_size_rae_step_bf16_channels_last():
    torch.manual_seed(0)
    ctx = TrainContext(device=torch.device("cuda"), amp_dtype=torch.bfloat16, channels_last=True)
    tr = CranRaeTrainer(CranTrainConfig(stage="rae", batch_size=4), ctx)
    rng = np.random.default_rng(0)
    B, L = 4, 70
    mfcc = torch.from_numpy(rng.standard_normal((B, L, 12, 35)).astype(np.float32))
    batch = {
        "reference": torch.from_numpy(rng.integers(0, 256, (B, 112, 112, 3), dtype=np.uint8)),
        "frames": torch.from_numpy(rng.integers(0, 256, (B, L, 112, 112, 3), dtype=np.uint8)),
        "mfcc": mfcc,
        "mfcc_mismatch": mfcc.roll(1, 0),
    }
    batch = {k: v.cuda() for k, v in batch.items()}
    for step in range(2):
        scalars = tr.train_step(batch, step)
    assert all(np.isfinite(v) for v in scalars.values())
    assert all(p.dtype == torch.float32 for m in tr.modules.values() for p in m.parameters())
    out = tr.sample(batch)
    assert out.generated.shape == (B, L, 112, 112, 3)
    assert np.isfinite(tr.validate(batch)["movement_intensity_generated"])
