"""CRAN networks against the appendix tables (Song et al. 2019, Tables 5-8): output shapes
and parameter counts worked out by hand from the tables' layer sizes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from models.cran.networks import (
    AudioEncoder,
    Decoder,
    ImageEncoder,
    MultiTaskDiscriminator,
    RecurrentEncoder,
    SameConv2d,
    SameConvTranspose2d,
    SameMaxPool2d,
)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def bn(c: int) -> int:  # BatchNorm: gamma and beta
    return 2 * c


def conv(k: int, cin: int, cout: int, bias: bool = False) -> int:
    return k * k * cin * cout + (cout if bias else 0)


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return {
        "ea": AudioEncoder().eval(),
        "ei": ImageEncoder().eval(),
        "g": Decoder().eval(),
        "d": MultiTaskDiscriminator().eval(),
        "gru": RecurrentEncoder(),
    }


def test_audio_encoder_table5(nets):
    ea = nets["ea"]
    x = torch.randn(1, 12, 35)
    shapes = []
    h = x.unsqueeze(1)
    for layer in ea.conv:
        h = layer(h)
        shapes.append(tuple(h.shape[1:]))
    # rows 1-7 as (C, H, W): 12x35x64, 12x35x128, pool 12x18, 12x18x256, x256, x512, pool 6x9
    assert shapes == [
        (64, 12, 35), (128, 12, 35), (128, 12, 18), (256, 12, 18), (256, 12, 18),
        (512, 12, 18), (512, 6, 9),
    ]  # fmt: skip
    with torch.no_grad():
        assert ea(x).shape == (1, 256)
    expected = (
        conv(3, 1, 64) + bn(64)
        + conv(3, 64, 128) + bn(128)
        + conv(3, 128, 256) + bn(256)
        + conv(3, 256, 256) + bn(256)
        + conv(3, 256, 512) + bn(512)
        + 6 * 9 * 512 * 512 + bn(512)  # row 8: FC, BN (no bias before BN)
        + 512 * 256 + 256  # output z_A: FC with bias
    )  # fmt: skip
    assert n_params(ea) == expected == 16_429_248


def test_image_encoder_table6(nets):
    with torch.no_grad():
        z, skips = nets["ei"](torch.randn(1, 3, 112, 112))
    assert z.shape == (1, 256)
    assert [tuple(s.shape[1:]) for s in skips] == [(64, 56, 56), (128, 28, 28), (256, 14, 14)]
    expected = (
        conv(5, 3, 64) + bn(64)
        + conv(5, 64, 128) + bn(128)
        + conv(5, 128, 256) + bn(256)
        + conv(5, 256, 512) + bn(512)
        + 7 * 7 * 512 * 512 + bn(512)
        + 512 * 256 + 256
    )  # fmt: skip
    assert n_params(nets["ei"]) == expected


def test_decoder_table7_with_unet_skips(nets):
    g = nets["g"]
    code = torch.randn(1, 512)
    skips = [torch.randn(1, 64, 56, 56), torch.randn(1, 128, 28, 28), torch.randn(1, 256, 14, 14)]
    seen = {}
    hooks = [
        getattr(g, n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o.shape))
        for n in ("up1", "up2", "up3", "up4")
    ]
    with torch.no_grad():
        out = g(code, skips)
    for h in hooks:
        h.remove()
    # each deconvolution's own channels; the table's (256 + 256) etc. add E_I's skip maps
    assert seen["up1"][1:] == (256, 14, 14)
    assert seen["up2"][1:] == (128, 28, 28)
    assert seen["up3"][1:] == (64, 56, 56)
    assert seen["up4"][1:] == (32, 112, 112)
    assert out.shape == (1, 3, 112, 112)
    assert out.abs().max() <= 1  # tanh
    expected = (
        512 * 25088 + bn(512)  # row 1: FC to 7x7x512, BN per channel
        + conv(5, 512, 256) + bn(256)  # row 2 input: 7x7x512
        + conv(5, 512, 128) + bn(128)  # row 3 input: 14x14x(256+256)
        + conv(5, 256, 64) + bn(64)  # row 4 input: 28x28x(128+128)
        + conv(5, 128, 32) + bn(32)  # row 5 input: 56x56x(64+64)
        + conv(5, 32, 3, bias=True)  # output: deconv, tanh
    )  # fmt: skip
    assert n_params(g) == expected


def test_discriminator_table8(nets):
    d = nets["d"]
    with torch.no_grad():
        feats = d.features(torch.randn(2, 3, 112, 112))
        assert feats.shape == (2, 128, 7, 7)
        assert d.image_logits(feats).shape == (2, 1, 7, 7)  # output 1: 7x7x1 PatchGAN
        assert d.match_conv(feats).shape == (2, 256, 4, 4)  # row 5 before the 256 of z_A
        assert d.match_logits(feats, torch.randn(2, 256)).shape == (2,)  # output 2: 1x1x1
    expected = (
        conv(4, 3, 16) + bn(16)
        + conv(4, 16, 32) + bn(32)
        + conv(4, 32, 64) + bn(64)
        + conv(4, 64, 128) + bn(128)
        + conv(4, 128, 1, bias=True)  # output 1
        + conv(4, 128, 256) + bn(256)  # row 5
        + conv(1, 256 + 256, 128) + bn(128)  # row 6: K=1 on 4x4x(256+256)
        + conv(4, 128, 1, bias=True)  # output 2, VALID
    )  # fmt: skip
    assert n_params(d) == expected


def test_gru_orthogonal_and_width(nets):
    gru = nets["gru"].gru
    assert gru.input_size == 512 and gru.hidden_size == 512
    eye = torch.eye(512)
    for name in ("weight_ih_l0", "weight_hh_l0"):
        for block in getattr(gru, name).detach().chunk(3, 0):
            assert torch.allclose(block @ block.T, eye, atol=1e-4)
    assert all((getattr(gru, b) == 0).all() for b in ("bias_ih_l0", "bias_hh_l0"))
    assert n_params(nets["gru"]) == 3 * (512 * 512 * 2 + 2 * 512)
    assert nets["gru"](torch.randn(2, 5, 512)).shape == (2, 5, 512)


def _tf_same_reference(x, w, stride):
    """TF "SAME": out = ceil(in / s); pad (total // 2, total - total // 2)."""
    pads = []
    for size, k in ((x.shape[-1], w.shape[-1]), (x.shape[-2], w.shape[-2])):
        total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), w, stride=stride)


@pytest.mark.parametrize(("size", "k", "s"), [(112, 5, 2), (7, 4, 2), (7, 4, 1), (35, 3, 1)])
def test_same_conv_matches_tf_rule(size, k, s):
    torch.manual_seed(1)
    layer = SameConv2d(2, 3, k, s, bias=False)
    x = torch.randn(1, 2, size, size)
    ref = _tf_same_reference(x, layer.weight, s)
    assert ref.shape[-1] == math.ceil(size / s)
    assert torch.allclose(layer(x), ref, atol=1e-5)


def test_same_max_pool_matches_tf_rule():
    """TF SAME max-pool of 12x18, kernel 3, stride 2: windows start at 0, 2, ... and the
    last one is padded at the bottom/right only (total padding 1 = (0, 1))."""
    x = torch.arange(12 * 18, dtype=torch.float32).view(1, 1, 12, 18)
    out = SameMaxPool2d(3, 2)(x)
    assert out.shape == (1, 1, 6, 9)
    rows = [min(2 * i + 2, 11) for i in range(6)]
    cols = [min(2 * j + 2, 17) for j in range(9)]
    expected = torch.tensor([[float(r * 18 + c) for c in cols] for r in rows])
    assert torch.equal(out[0, 0], expected)


def test_same_transpose_is_adjoint_of_same_conv():
    """<conv(x), y> == <x, convT(y)>: the transposed layer crops exactly as SAME pads."""
    torch.manual_seed(2)
    conv_layer = SameConv2d(3, 4, 5, 2, bias=False)
    deconv = SameConvTranspose2d(4, 3, 5, 2, bias=False)
    deconv.weight.data.copy_(conv_layer.weight.data)
    x, y = torch.randn(1, 3, 14, 14), torch.randn(1, 4, 7, 7)
    assert deconv(y).shape == x.shape
    assert torch.allclose((conv_layer(x) * y).sum(), (x * deconv(y)).sum(), atol=1e-4)
