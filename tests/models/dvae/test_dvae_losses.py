"""DVAE's objective terms against hand-worked tiny cases and independent references."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models.dvae.losses import (
    gaussian_kl,
    gaussian_log_prob,
    gradient_penalty,
    landmark_distance,
    log_normal_prior,
    margin_ranking,
    segment_objective,
    table_logits,
)
from models.dvae.networks import DisentangledAudioVAE, PriorTable, VaeOutput


def test_gaussian_kl_hand_case_and_torch_reference():
    # q = N(1, 1), p = N(0, 0.25): 0.5 (ln(0.25/1) + (1 + 1^2)/0.25 - 1)
    want = 0.5 * (math.log(0.25) + 2 / 0.25 - 1)
    got = gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[0.0]]),
                      torch.tensor([[math.log(0.25)]]))  # fmt: skip
    assert got.item() == pytest.approx(want, rel=1e-6)
    g = torch.Generator().manual_seed(0)
    mq, lq, mp, lp = (torch.randn(3, 5, generator=g) for _ in range(4))
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mq, (0.5 * lq).exp()),
        torch.distributions.Normal(mp, (0.5 * lp).exp()),
    ).sum(-1)
    torch.testing.assert_close(gaussian_kl(mq, lq, mp, lp), ref, rtol=1e-5, atol=1e-5)


def test_log_probs_match_torch_distributions():
    x, mu, lv = torch.tensor([0.3, -1.0]), torch.tensor([0.0, 2.0]), torch.tensor([0.5, -0.2])
    ref = torch.distributions.Normal(mu, (0.5 * lv).exp()).log_prob(x)
    torch.testing.assert_close(gaussian_log_prob(x, mu, lv), ref)
    m = torch.tensor([[0.5, -2.0]])
    ref = torch.distributions.Normal(0.0, math.sqrt(2.0)).log_prob(m).sum(-1)
    torch.testing.assert_close(log_normal_prior(m, 2.0), ref)


def test_table_softmax_hand_case():
    # z at the origin, rows at distance^2 1 and 4, var 0.25 -> logits -2 and -8
    z = torch.zeros(1, 2)
    table = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logits = table_logits(z, table, 0.25)
    torch.testing.assert_close(logits, torch.tensor([[-2.0, -8.0]]))
    p0 = torch.softmax(logits, 1)[0, 0].item()
    assert p0 == pytest.approx(1 / (1 + math.exp(-6)))


def test_margin_ranking_hand_case():
    got = margin_ranking(torch.tensor([0.9]), [torch.tensor([0.6]), torch.tensor([0.2])], 0.5)
    assert got.item() == pytest.approx(0.2)  # max(0, .5+.6-.9) + max(0, .5+.2-.9)


class _Tables(nn.Module):
    def __init__(self, tv, te, ts):
        super().__init__()
        self.viseme_prior = PriorTable(*tv.shape)
        self.emotion_prior = PriorTable(*te.shape)
        self.sequence_prior = PriorTable(*ts.shape)
        with torch.no_grad():
            self.viseme_prior.means.copy_(tv)
            self.emotion_prior.means.copy_(te)
            self.sequence_prior.means.copy_(ts)


def test_segment_objective_one_dimensional_hand_case():
    """One segment, 1-d latents, 1x1 input: every term of Eq. 6 worked out by hand."""
    tv = torch.tensor([[0.0], [1.0]])  # viseme means
    te = torch.tensor([[0.5], [-0.5]])
    ts = torch.tensor([[2.0], [0.0]])
    tables = _Tables(tv, te, ts)
    x = torch.tensor([[[0.2]]])
    lv0 = torch.zeros(1, 1)
    out = VaeOutput(
        q_content=(torch.tensor([[0.8]]), lv0), q_emotion=(torch.tensor([[0.0]]), lv0),
        q_sequence=(torch.tensor([[1.0]]), lv0), z_content=None, z_emotion=None,
        z_sequence=None, px_mu=torch.tensor([[[0.0]]]), px_logvar=torch.zeros(1, 1, 1),
    )  # fmt: skip
    v, e, s, n = torch.tensor([1]), torch.tensor([0]), torch.tensor([0]), torch.tensor([4])
    terms = segment_objective(x, out, tables, v, e, s, n, latent_var=0.25, prior_var=1.0,
                              alpha=10.0, beta=1.0, gamma=0.5, margin=True)  # fmt: skip

    def kl(mq, mp):  # KL(N(mq, 1) || N(mp, 0.25))
        return 0.5 * (math.log(0.25) + (1 + (mq - mp) ** 2) / 0.25 - 1)

    def logn(m):
        return -0.5 * (math.log(2 * math.pi) + m * m)

    log_px = -0.5 * (math.log(2 * math.pi) + 0.04)
    bound = (
        log_px
        - kl(0.8, 1.0)
        - kl(0.0, 0.5)
        - kl(1.0, 2.0)
        + logn(1.0)
        + (logn(0.5) + logn(2.0)) / 4
    )

    def probs(z, rows):
        w = [math.exp(-((z - r) ** 2) / 0.5) for r in rows]
        return [a / sum(w) for a in w]

    pv_c, pv_s, pv_e = probs(0.8, [0, 1])[1], probs(1.0, [0, 1])[1], probs(0.0, [0, 1])[1]
    pe_e, pe_c, pe_s = (
        probs(0.0, [0.5, -0.5])[0],
        probs(0.8, [0.5, -0.5])[0],
        probs(1.0, [0.5, -0.5])[0],
    )
    ps_s = probs(1.0, [2.0, 0.0])[0]
    disc = math.log(pv_c) + math.log(pe_e) + math.log(ps_s)
    m_v = max(0, 0.5 + pv_s - pv_c) + max(0, 0.5 + pv_e - pv_c)
    m_e = max(0, 0.5 + pe_c - pe_e) + max(0, 0.5 + pe_s - pe_e)
    want = -(bound + 10 * disc - (m_v + m_e))
    assert terms.bound.item() == pytest.approx(bound, rel=1e-5)
    assert terms.margin_viseme.item() == pytest.approx(m_v, rel=1e-5, abs=1e-6)
    assert terms.margin_emotion.item() == pytest.approx(m_e, rel=1e-5, abs=1e-6)
    assert terms.loss.item() == pytest.approx(want, rel=1e-5)


def _tiny_vae(n_seq=5):
    sizes = dict(n_bins=6, steps=3, hidden=8, layers=2, z_content=4, z_emotion=4, z_sequence=4)
    return DisentangledAudioVAE(**sizes, n_visemes=7, n_emotions=6, n_sequences=n_seq)


def _grad_rows(table):
    return set(torch.nonzero(table.means.grad.abs().sum(1) > 0)[:, 0].tolist())


def test_prior_tables_get_gradients_only_for_present_labels():
    torch.manual_seed(0)
    vae = _tiny_vae()
    x = torch.randn(4, 3, 6)
    v, e = torch.tensor([1, 3, 3, -1]), torch.tensor([2, 2, -1, 2])
    s, n = torch.tensor([0, 4, 4, -1]), torch.full((4,), 10)
    # the bound alone (Eq. 3): only the rows labels pick; labels < 0 touch no row
    segment_objective(x, vae(x), vae, v, e, s, n, alpha=0.0, margin=False).loss.backward()
    assert _grad_rows(vae.viseme_prior) == {1, 3}
    assert _grad_rows(vae.emotion_prior) == {2}
    assert _grad_rows(vae.sequence_prior) == {0, 4}
    # Eq. 4's normaliser sums over every row of a table, so the discriminative term reaches
    # all rows (as in FHVAE); rows of labels absent from the batch get only that part
    vae.zero_grad()
    segment_objective(x, vae(x), vae, v, e, s, n, alpha=10.0, margin=False).loss.backward()
    assert _grad_rows(vae.viseme_prior) == set(range(7))


def test_gradient_penalty_hand_computed():
    # linear critic D(x) = w . x: the gradient is w everywhere, GP = (||w|| - 1)^2
    class Linear(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.tensor([[[3.0, 0.0], [0.0, 4.0]]]))

        def forward(self, x, z):
            return (x * self.w).sum(dim=(1, 2)) + z.sum(1)

    real, fake, z = torch.randn(3, 2, 2), torch.randn(3, 2, 2), torch.randn(3, 2)
    assert gradient_penalty(Linear(), real, fake, z).item() == pytest.approx(16.0)

    # quadratic critic D(x) = sum x^2: grad = 2 x_hat at x_hat = eps real + (1 - eps) fake
    def quad(x):
        return (x**2).sum(dim=1), None

    real, fake = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    torch.manual_seed(7)
    eps = torch.rand(2, 1)
    want = 0.0
    for i in range(2):
        xh = eps[i] * real[i] + (1 - eps[i]) * fake[i]
        want += (2 * xh.norm().item() - 1) ** 2 / 2
    torch.manual_seed(7)
    assert gradient_penalty(quad, real, fake).item() == pytest.approx(want, rel=1e-6)


def test_landmark_distance_is_mean_euclidean():
    a = torch.zeros(2, 3, 2)
    b = torch.zeros(2, 3, 2)
    b[..., 0] = 3.0
    b[..., 1] = 4.0
    assert landmark_distance(b, a).item() == pytest.approx(5.0)
