"""CRAN's losses (Song et al. 2019, Sec. 3.1-3.2, Eqs. 1-5).

The adversarial Eqs. 2-3 as printed are inconsistent: Eq. 2's "unconditioned" generator term
is taken over *real* images (E_{I~P_r} log(1 - D(I)), which does not depend on G), and
Eq. 3 penalises the real matched pair with -E log(1 - D(I, z)), which would train D to call
real matched pairs fake. Their evident intent, the standard GAN objective (Goodfellow et al.
2014) with an image-aware and a matching-aware (GAN-CLS, Reed et al. 2016) discriminator, is
what we implement, with D_img the PatchGAN output (averaged over its 7x7 cells) and D_match
the matching output, z_A the frame's own audio code and z^_A a mismatched one:

    L_G =  E_{~I~P_g}[log(1 - D_img(~I))] + E_{~I~P_g}[log(1 - D_match(~I, z_A))]          (2)
    L_D = -E_{I~P_r}[log D_img(I)] - E_{~I~P_g}[log(1 - D_img(~I))]                       (3)
          -E_{I~P_r}[log D_match(I, z_A)] - E_{I~P_r}[log(1 - D_match(I, z^_A))]
          -E_{~I~P_g}[log(1 - D_match(~I, z_A))]

G minimises L_G (or, with ``non_saturating``, the usual -log D(~I) form of the same
terms); D minimises L_D. Everything works on logits: log D = -softplus(-x),
log(1 - D) = -softplus(x), which is exact and stable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_loss(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. 1, ||I_t - ~I_t||_1, as the mean absolute difference per pixel and channel (the
    per-element mean keeps the weights of Eq. 5 independent of the image size)."""
    return (generated.float() - target.float()).abs().mean()


def _log_d(logits: torch.Tensor) -> torch.Tensor:
    """Mean log D = mean log sigmoid(x)."""
    return -F.softplus(-logits.float()).mean()


def _log_1_minus_d(logits: torch.Tensor) -> torch.Tensor:
    """Mean log(1 - D) = mean log(1 - sigmoid(x))."""
    return -F.softplus(logits.float()).mean()


def generator_adversarial_loss(
    fake_image_logits: torch.Tensor,
    fake_match_logits: torch.Tensor,
    non_saturating: bool = False,
) -> torch.Tensor:
    """L_G of Eq. 2 (intended form, see the module docstring) from D's logits on generated
    frames: the PatchGAN map and the matching output with the frames' own audio codes."""
    if non_saturating:
        return -_log_d(fake_image_logits) - _log_d(fake_match_logits)
    return _log_1_minus_d(fake_image_logits) + _log_1_minus_d(fake_match_logits)


def discriminator_loss(
    real_image_logits: torch.Tensor,
    fake_image_logits: torch.Tensor,
    real_match_logits: torch.Tensor,
    mismatch_logits: torch.Tensor,
    fake_match_logits: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """L_D of Eq. 3 (intended form): ``total`` and its unconditioned (image-aware) and
    conditioned (matching-aware) parts."""
    image = -_log_d(real_image_logits) - _log_1_minus_d(fake_image_logits)
    match = (
        -_log_d(real_match_logits)
        - _log_1_minus_d(mismatch_logits)
        - _log_1_minus_d(fake_match_logits)
    )
    return {"total": image + match, "image": image, "match": match}
