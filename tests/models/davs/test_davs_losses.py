"""Every DAVS loss against a hand-worked tiny example."""

from __future__ import annotations

import math

import pytest
import torch

from models.davs import losses as L
from models.davs.geometry import Box


def test_gan_loss_hard_and_soft_labels():
    assert float(L.gan_loss(torch.zeros(3), True)) == pytest.approx(math.log(2))
    assert float(L.gan_loss(torch.tensor([2.0]), True)) == pytest.approx(math.log(1 + math.exp(-2)))
    assert float(L.gan_loss(torch.tensor([2.0]), False)) == pytest.approx(math.log(1 + math.exp(2)))
    # soft: target 1 - u (real) or u (fake), u ~ U(0, 0.1), a fresh draw per call
    g = torch.Generator().manual_seed(5)
    u = float(torch.rand((), generator=torch.Generator().manual_seed(5))) * 0.1
    x = 1.5
    p = 1 / (1 + math.exp(-x))
    want = -((1 - u) * math.log(p) + u * math.log(1 - p))
    assert float(L.gan_loss(torch.tensor([x]), True, 0.1, g)) == pytest.approx(want, rel=1e-6)
    draws = {float(L.gan_loss(torch.tensor([x]), False, 0.1, g)) for _ in range(5)}
    assert len(draws) == 5  # the official cached label would repeat one value


def test_l2_contrastive_by_hand():
    f1 = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    f2 = torch.tensor([[0.0, 0.0], [0.0, 0.5]])
    # d00 = 0, d11 = sqrt(1.25): pulled with d^2 -> 1.25; d01 = 0.5 -> (1 - 0.5)^2 = 0.25;
    # d10 = 1 -> 0; (1.25 + 0.25) / (2 * 2)
    assert float(L.l2_contrastive(f1, f2, margin=1.0)) == pytest.approx(0.375)
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    L.l2_contrastive(f, f.detach().clone(), 1.0).backward()  # coincident pairs: finite grads
    assert torch.isfinite(f.grad).all()


def test_l2_normalize_and_uniform_softmax():
    assert L.l2_normalize(torch.tensor([[3.0, 4.0]])).tolist()[0] == pytest.approx([0.6, 0.8])
    assert float(L.uniform_softmax_loss(torch.zeros(2, 4))) == 0.0
    # softmax([ln 3, 0]) = [0.75, 0.25]; mean((0.25^2, 0.25^2)) = 0.0625
    assert float(L.uniform_softmax_loss(torch.tensor([[math.log(3), 0.0]]))) == pytest.approx(
        0.0625
    )


def test_reconstruction_l1_by_hand():
    box = Box(top=2, bottom=4, left=1, right=5)  # 2 x 4 = 8 of 64 pixels
    fake, real = torch.ones(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    # whole: mean |255 - 0| = 255 (x4); mouth: 255 * 8 / 64 (x8) -> 1020 + 255
    assert float(L.reconstruction_l1(fake, real, box, 4.0, 8.0)) == pytest.approx(1275.0)
    real[..., 2:4, 1:5] = 1.0  # now only the outside differs
    assert float(L.reconstruction_l1(fake, real, box, 4.0, 8.0)) == pytest.approx(4 * 255 * 56 / 64)


def test_temporal_l1_by_hand():
    first = torch.zeros(1, 3, 4, 4)
    fakes = torch.stack([torch.full((3, 4, 4), 0.5), torch.full((3, 4, 4), 0.75)]).unsqueeze(0)
    fakes.requires_grad_(True)
    none = Box(0, 0, 0, 0)
    loss = L.temporal_l1(fakes, first, none)
    assert float(loss.detach()) == pytest.approx(0.5 + 0.25)
    loss.backward()
    # frame 0 only through its own term (frame t-1 is detached): d/dx mean|x - 0| = 1/48
    assert torch.allclose(fakes.grad[0, 0], torch.full((3, 4, 4), 1 / 48))
    whole = Box(0, 4, 0, 4)  # everything is mouth: nothing is compared
    assert float(L.temporal_l1(fakes.detach(), first, whole)) == 0.0


def test_finetune_l1_by_hand():
    box = Box(0, 2, 0, 2)  # 4 of 16 pixels weighted 0.001
    loss = L.finetune_l1(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), box, 0.001, 4.0)
    assert float(loss) == pytest.approx(4 * (12 + 4 * 0.001) / 16)
