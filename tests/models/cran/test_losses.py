"""CRAN's losses on tiny hand-worked cases (Eqs. 1-3 in their intended form)."""

from __future__ import annotations

import math

import pytest
import torch

from models.cran.losses import (
    discriminator_loss,
    generator_adversarial_loss,
    reconstruction_loss,
)


def t(*v):
    return torch.tensor(v, dtype=torch.float32)


def test_reconstruction_is_mean_absolute_difference():
    a = torch.tensor([[0.5, -1.0], [0.0, 1.0]])
    b = torch.tensor([[0.0, -0.5], [0.25, 1.0]])
    # |0.5| + |-0.5| + |-0.25| + 0 = 1.25 over 4 elements
    assert reconstruction_loss(a, b).item() == pytest.approx(0.3125)


def test_discriminator_loss_hand_worked():
    # logits 0 -> D = 1/2 everywhere: each of the five terms is log 2
    z = torch.zeros(3)
    out = discriminator_loss(z, z, z, z, z)
    assert out["total"].item() == pytest.approx(5 * math.log(2), rel=1e-6)
    assert out["image"].item() == pytest.approx(2 * math.log(2), rel=1e-6)
    # logit ln 3 -> D = 3/4; logit -ln 3 -> D = 1/4.
    hi, lo = t(math.log(3)), t(-math.log(3))
    # D right everywhere: real image 3/4, fake image 1/4, real match 3/4, mismatch 1/4,
    # fake match 1/4: each term is -log(3/4)
    out = discriminator_loss(hi, lo, hi, lo, lo)
    assert out["total"].item() == pytest.approx(-5 * math.log(0.75), rel=1e-6)
    # D wrong on the mismatched pair only (calls it matched with 3/4): that term -log(1/4)
    out = discriminator_loss(hi, lo, hi, hi, lo)
    assert out["match"].item() == pytest.approx(-2 * math.log(0.75) - math.log(0.25), rel=1e-6)
    assert out["image"].item() == pytest.approx(-2 * math.log(0.75), rel=1e-6)


def test_discriminator_loss_averages_patch_map():
    # PatchGAN cells of one image: mean over cells of -log D
    real = torch.tensor([[[[0.0, math.log(3)]]]])  # D = 1/2 and 3/4
    zero = torch.full((1, 1, 1, 2), -1e4)  # fake cells: D = 0 -> no loss
    out = discriminator_loss(real, zero, t(1e4), t(-1e4), t(-1e4))
    assert out["image"].item() == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2, rel=1e-5)
    assert out["match"].item() == pytest.approx(0.0, abs=1e-6)


def test_generator_loss_saturating_and_non_saturating():
    lo = t(-math.log(3))  # D(~I) = 1/4 on both heads
    # Eq. 2: log(1 - 1/4) twice
    assert generator_adversarial_loss(lo, lo).item() == pytest.approx(2 * math.log(0.75))
    # non-saturating: -log(1/4) twice
    assert generator_adversarial_loss(lo, lo, non_saturating=True).item() == pytest.approx(
        -2 * math.log(0.25)
    )


def test_generator_loss_decreases_as_d_is_fooled():
    # G lowers its loss by raising D's output on generated frames, in both forms
    x = torch.zeros(4, requires_grad=True)
    for ns in (False, True):
        (g,) = torch.autograd.grad(generator_adversarial_loss(x, x, ns), x)
        assert (g < 0).all()


def test_losses_are_stable_at_extreme_logits():
    big = t(1e4, -1e4)
    out = discriminator_loss(big, big, big, big, big)
    assert torch.isfinite(out["total"])
    assert torch.isfinite(generator_adversarial_loss(big, big))
