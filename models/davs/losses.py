"""DAVS losses as the official code computes and weights them (``loss_functions.py``,
``Gen_final_v1.py``). Every function is computed in float32 (cast up from bf16).

Bug fixed: the official ``GANLoss`` caches its target tensor and only rebuilds it when the
number of elements changes, so its "soft" label (``1 - U(0, 0.1)`` / ``U(0, 0.1)``) is drawn
once and then reused for the whole run; here a fresh label is drawn on every call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.davs.geometry import Box


def gan_loss(
    logits: torch.Tensor, target_is_real: bool, soft: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """BCE of sigmoid(logits) against 1 (real) or 0 (fake); with ``soft`` > 0 the target is
    moved inwards by one ``U(0, soft)`` draw per call (official ``criterionGAN_soft``)."""
    shift = 0.0
    if soft > 0:
        shift = float(torch.rand((), generator=generator)) * soft
    value = 1.0 - shift if target_is_real else shift
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, value))


def l2_contrastive(
    feature1: torch.Tensor, feature2: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """``L2ContrastiveLoss``: d_mn = ||f1_m - f2_n||; pairs (m = n) pull with d^2, others push
    with max(margin - d, 0)^2; the sum over the N x N matrix divided by 2N."""
    f1, f2 = feature1.float(), feature2.float()
    d2 = (f1.unsqueeze(1) - f2.unsqueeze(0)).pow(2).sum(-1)  # (N, N), [m, n] = |f1_m - f2_n|^2
    d = d2.clamp_min(1e-12).sqrt()  # finite gradient where two features coincide
    eye = torch.eye(d.shape[0], dtype=torch.bool, device=d.device)
    push = (margin - d).clamp(min=0).masked_fill(eye, 0)
    return (push.pow(2).sum() + d2.diagonal().sum()) / (2 * f1.shape[0])


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """``embedding_utils.l2_norm``: rows to unit L2 norm."""
    return F.normalize(x.float(), p=2, dim=1)


def uniform_softmax_loss(logits: torch.Tensor) -> torch.Tensor:
    """``L2SoftmaxLoss`` (paper eq. 3): mean squared distance of softmax(logits) from the
    uniform 1/N_w (official: ``MSELoss``, a mean over batch and classes)."""
    p = torch.softmax(logits.float(), dim=1)
    return F.mse_loss(p, torch.full_like(p, 1.0 / logits.shape[1]))


def mouth_mask(box: Box, size: int, inside: float = 1.0, outside: float = 0.0,
               device: torch.device | str | None = None) -> torch.Tensor:  # fmt: skip
    """(1, 1, size, size) mask: ``inside`` in the mouth box, ``outside`` elsewhere."""
    m = torch.full((1, 1, size, size), float(outside), device=device)
    m[..., box.top : box.bottom, box.left : box.right] = float(inside)
    return m


def reconstruction_l1(
    fake: torch.Tensor, real: torch.Tensor, box: Box, lambda_whole: float = 4.0,
    lambda_mouth: float = 8.0,
) -> torch.Tensor:  # fmt: skip
    """Official ``loss_G_L1_*``: L1 on 0-255 values over the whole frame (x lambda_A) plus L1
    of the mouth-masked frames (x lambda_B; a mean over the whole frame, as official).
    ``fake``, ``real``: (..., 3, S, S) in [0, 1]."""
    fake, real = fake.float() * 255, real.float() * 255
    mask = mouth_mask(box, fake.shape[-1], device=fake.device)
    whole = F.l1_loss(fake, real)
    mouth = F.l1_loss(fake * mask, real * mask)
    return whole * lambda_whole + mouth * lambda_mouth


def temporal_l1(fakes: torch.Tensor, first: torch.Tensor, box: Box) -> torch.Tensor:
    """Official ``G_x_loss``: each generated frame t (B, T, 3, S, S) against frame t-1
    (detached; the identity frame ``first`` for t = 0), outside the mouth box, summed over t.
    Values in [0, 1] (no x255, as official)."""
    mask = mouth_mask(box, fakes.shape[-1], inside=0.0, outside=1.0, device=fakes.device)
    fakes = fakes.float()
    previous = torch.cat([first.float().unsqueeze(1), fakes[:, :-1].detach()], dim=1)
    per_t = [F.l1_loss(fakes[:, t] * mask, previous[:, t] * mask) for t in range(fakes.shape[1])]
    return torch.stack(per_t).sum()


def finetune_l1(fake: torch.Tensor, real: torch.Tensor, box: Box, mouth_weight: float = 0.001,
                lambda_whole: float = 4.0) -> torch.Tensor:  # fmt: skip
    """The official test-time fine-tuning loss: L1 (values in [0, 1]) with the mouth box
    weighted ``mouth_weight`` and everything else 1, times lambda_A."""
    mask = mouth_mask(box, fake.shape[-1], inside=mouth_weight, outside=1.0, device=fake.device)
    return F.l1_loss(fake.float() * mask, real.float() * mask) * lambda_whole
