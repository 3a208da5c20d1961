"""DVAE's objectives: the segment variational bound with discriminative and margin terms
(stage 1, Eq. 3-6) and the WGAN-GP / L1 / landmark terms of the talking-head GAN (stage 2).

Conventions from FHVAE (Hsu et al. 2017, ``src/models/base_fhvae.py``, ``src/libs/costs.py``),
which DVAE builds on and is silent about:

- ``KL(q || p)`` per dimension ``-0.5 (1 + logvar_q - logvar_p - ((mu_q - mu_p)^2 +
  exp(logvar_q)) / exp(logvar_p))``, summed over dimensions;
- p(z | mu~) = N(mu~, latent_var I) (latent_var = 0.25), p(mu~) = N(0, prior_var I) (1);
- the sequence-level prior terms log p(mu~_e) and log p(mu~_s) enter each segment's bound
  divided by the number of segments N of its sequence (FHVAE ``log_pmu1 / N``), so the
  segment bounds of a sequence add up to Eq. 3; log p(mu~_c^n) is a per-segment term of
  Eq. 3 and enters whole;
- the discriminative log p(label | z) (Eq. 4) is a softmax over all rows of the label's table
  of ``-||mu_q - mu~_j||^2 / (2 latent_var)`` evaluated at the posterior *mean* (FHVAE
  ``log_qy1`` uses ``qz1_x[0]``);
- the loss is ``-mean over the batch`` of the (weighted) bound.

The margin ranking terms (Eq. 5) use the same table softmax: P(v | z_s) is the viseme table's
softmax evaluated at z_s (all latents are 32-d and live in one space per table), so
``T_v = max(0, gamma + P(v|z_s) - P(v|z_c)) + max(0, gamma + P(v|z_e) - P(v|z_c))`` and the
emotion term is the same with z_e designated.

Labels < 0 (a clip without an emotion, a validation clip outside the sequence table) drop
the terms that need them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(
    mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu_q, e^logvar_q) || N(mu_p, e^logvar_p)) summed over the last dimension."""
    kl = -0.5 * (1 + logvar_q - logvar_p - ((mu_q - mu_p) ** 2 + logvar_q.exp()) / logvar_p.exp())
    return kl.sum(dim=-1)


def gaussian_log_prob(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Element-wise log N(x; mu, e^logvar) (FHVAE ``log_gauss``)."""
    return -0.5 * (LOG_2PI + logvar + (x - mu) ** 2 / logvar.exp())


def log_normal_prior(mu: torch.Tensor, var: float = 1.0) -> torch.Tensor:
    """log N(mu; 0, var I) summed over the last dimension (FHVAE ``log_normal``, var 1)."""
    return (-0.5 * (LOG_2PI + math.log(var) + mu**2 / var)).sum(dim=-1)


def table_logits(z: torch.Tensor, table: torch.Tensor, latent_var: float) -> torch.Tensor:
    """``-||z - table_j||^2 / (2 latent_var)`` for every row j: (B, D), (K, D) -> (B, K).
    Its log-softmax is Eq. 4: log p(z | j) - log sum_k p(z | k) (equal priors over labels)."""
    d2 = (z[:, None, :] - table[None, :, :]).pow(2).sum(dim=-1)
    return -d2 / (2.0 * latent_var)


def margin_ranking(
    p_designated: torch.Tensor, p_others: list[torch.Tensor], gamma: float
) -> torch.Tensor:
    """Eq. 5: sum over the other latents of max(0, gamma + P(label|other) - P(label|designated))."""
    return sum(F.relu(gamma + p - p_designated) for p in p_others)  # type: ignore[return-value]


def _pick(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return probs.gather(1, labels.clamp(min=0)[:, None])[:, 0]


@dataclass
class BoundTerms:
    """Per-segment terms (B,) of Eq. 6 and the scalar loss (what is minimised)."""

    loss: torch.Tensor
    log_px: torch.Tensor
    kl_content: torch.Tensor
    kl_emotion: torch.Tensor
    kl_sequence: torch.Tensor
    log_prior: torch.Tensor
    bound: torch.Tensor
    log_p_viseme: torch.Tensor
    log_p_emotion: torch.Tensor
    log_p_sequence: torch.Tensor
    margin_viseme: torch.Tensor
    margin_emotion: torch.Tensor
    acc_viseme: torch.Tensor
    acc_emotion: torch.Tensor


def segment_objective(
    x: torch.Tensor,
    out,  # networks.VaeOutput
    vae: nn.Module,
    viseme: torch.Tensor,
    emotion: torch.Tensor,
    sequence: torch.Tensor,
    n_segments: torch.Tensor,
    *,
    latent_var: float = 0.25,
    prior_var: float = 1.0,
    alpha: float = 10.0,
    beta: float = 1.0,
    gamma: float = 0.5,
    margin: bool = True,
) -> BoundTerms:
    """-(Eq. 6) averaged over the batch, for segments ``x`` (B, T, F) and their labels.

    ``n_segments`` (B,): segments in each segment's sequence (N of Eq. 3)."""
    lv = math.log(latent_var)
    has_e, has_s, has_v = emotion >= 0, sequence >= 0, viseme >= 0
    v, e, s = viseme.clamp(min=0), emotion.clamp(min=0), sequence.clamp(min=0)
    mu_c, mu_e, mu_s = vae.viseme_prior(v), vae.emotion_prior(e), vae.sequence_prior(s)
    zero = torch.zeros_like(x[:, 0, 0])

    log_px = gaussian_log_prob(x, out.px_mu, out.px_logvar).flatten(1).sum(dim=1)
    (qc_mu, qc_lv), (qe_mu, qe_lv), (qs_mu, qs_lv) = out.q_content, out.q_emotion, out.q_sequence
    # without a label the latent falls back to the standard normal prior (FHVAE's z1 prior)
    kl_c = torch.where(
        has_v,
        gaussian_kl(qc_mu, qc_lv, mu_c, torch.full_like(mu_c, lv)),
        gaussian_kl(qc_mu, qc_lv, zero[:, None], zero[:, None]),
    )
    kl_e = torch.where(
        has_e,
        gaussian_kl(qe_mu, qe_lv, mu_e, torch.full_like(mu_e, lv)),
        gaussian_kl(qe_mu, qe_lv, zero[:, None], zero[:, None]),
    )
    kl_s = torch.where(
        has_s,
        gaussian_kl(qs_mu, qs_lv, mu_s, torch.full_like(mu_s, lv)),
        gaussian_kl(qs_mu, qs_lv, zero[:, None], zero[:, None]),
    )
    n = n_segments.to(x.dtype).clamp(min=1)
    log_prior = (
        torch.where(has_v, log_normal_prior(mu_c, prior_var), zero)
        + torch.where(has_e, log_normal_prior(mu_e, prior_var), zero) / n
        + torch.where(has_s, log_normal_prior(mu_s, prior_var), zero) / n
    )
    bound = log_px - kl_c - kl_e - kl_s + log_prior

    tv, te, ts = vae.viseme_prior.means, vae.emotion_prior.means, vae.sequence_prior.means
    lp_v_c = F.log_softmax(table_logits(qc_mu, tv, latent_var), dim=1)
    lp_e_e = F.log_softmax(table_logits(qe_mu, te, latent_var), dim=1)
    lp_s_s = F.log_softmax(table_logits(qs_mu, ts, latent_var), dim=1)
    log_p_v = torch.where(has_v, _pick(lp_v_c, v), zero)
    log_p_e = torch.where(has_e, _pick(lp_e_e, e), zero)
    log_p_s = torch.where(has_s, _pick(lp_s_s, s), zero)
    objective = bound + alpha * (log_p_v + log_p_e + log_p_s)

    if margin:
        pv = [_pick(F.softmax(table_logits(q, tv, latent_var), dim=1), v) for q in (qs_mu, qe_mu)]
        pe = [_pick(F.softmax(table_logits(q, te, latent_var), dim=1), e) for q in (qc_mu, qs_mu)]
        m_v = torch.where(
            has_v, margin_ranking(lp_v_c.exp().gather(1, v[:, None])[:, 0], pv, gamma), zero
        )
        m_e = torch.where(
            has_e, margin_ranking(lp_e_e.exp().gather(1, e[:, None])[:, 0], pe, gamma), zero
        )
        objective = objective - beta * (m_v + m_e)
    else:
        m_v = m_e = zero

    acc_v = (lp_v_c.argmax(1) == v).float()
    acc_e = (lp_e_e.argmax(1) == e).float()
    return BoundTerms(
        loss=-objective.mean(),
        log_px=log_px,
        kl_content=kl_c,
        kl_emotion=kl_e,
        kl_sequence=kl_s,
        log_prior=log_prior,
        bound=bound,
        log_p_viseme=log_p_v,
        log_p_emotion=log_p_e,
        log_p_sequence=log_p_s,
        margin_viseme=m_v,
        margin_emotion=m_e,
        acc_viseme=torch.where(has_v, acc_v, torch.nan),
        acc_emotion=torch.where(has_e, acc_e, torch.nan),
    )


# ----------------------------------------------------------------------------- stage 2


def gradient_penalty(
    critic, real: torch.Tensor, fake: torch.Tensor, *cond: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP [17]: ``mean((||grad_x D(x_hat)||_2 - 1)^2)`` at ``x_hat = eps real + (1-eps)
    fake``, eps ~ U[0, 1] per sample; the norm is over all of a sample's input dimensions.
    ``critic(x_hat, *cond)`` returns the score (B,) or a tuple whose first entry is it."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    score = critic(x_hat, *cond)
    if isinstance(score, tuple):
        score = score[0]
    (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def landmark_l2(pred: torch.Tensor, target: torch.Tensor, side: float = 256.0) -> torch.Tensor:
    """Mean squared Euclidean distance of landmark sets (..., P, 2), in crop units (px / side)."""
    return ((pred - target) / side).pow(2).sum(dim=-1).mean()


def landmark_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LMD (Sec. 4.3): mean over frames and points of the Euclidean distance, in pixels.
    ``pred``/``target`` (..., F, P, 2) -> (...)."""
    return (pred - target).norm(dim=-1).mean(dim=(-1, -2))
