"""DAVS networks (Zhou et al. 2019) with the official layer structure and parameter names.

Every class mirrors one class of the official repository
(``Hangz-nju-cuhk/Talking-Face-Generation-DAVS``, ``network/*.py``): same submodule names,
same registration, same shapes at ``width=1`` and ``image_size=256``, so a released
checkpoint (``101_DAVS_checkpoint.pth.tar``, see :mod:`models.davs.checkpoint`) loads with
``strict=True``. Modules the official classes register but never call (``FAN_use.conv5``,
``conv6``, ``fc``; ``mfcc_encoder.bn5``; ``Discriminator.bn7``-``bn9``; ``ModelFusion.dis``)
are kept for the same reason; their parameters are created with ``requires_grad=False``.

Two knobs exist only for fast tests and small demos (defaults = the official networks):
``width`` multiplies every channel count, ``image_size`` (a power of two, >= 64) scales the
spatial plan (the decoder skips its first upsamplings, the pooling/flatten sizes follow).

Departures, each needed to run the released weights correctly on current PyTorch:

- bilinear resampling uses ``align_corners=True``: the official code was written for PyTorch
  0.3 (``Variable(volatile=True)``, Python 2 ``str(01)``), whose bilinear ``upsample`` had
  align-corners semantics; later versions changed the default.
- ``mfcc_encoder_alter.bn1`` is a ``BatchNorm1d`` applied to a 4-D tensor, which PyTorch 0.3
  allowed (per-channel statistics over N, H, W) and current PyTorch rejects; we keep the
  class (same state-dict keys) and skip its dimension check.
- the discriminators return logits; the losses apply the sigmoid inside
  ``binary_cross_entropy_with_logits`` (official: ``Sigmoid`` then ``BCELoss``, the same
  function, but unsafe under bf16 autocast).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.davs.geometry import discriminator_mouth_window

FEATURE = 256  # pid / wid feature length at width 1


def scaled(n: int, width: float) -> int:
    """A channel count of the official network at ``width`` (1.0 = official)."""
    return max(1, int(round(n * width)))


def _check_size(image_size: int) -> int:
    if image_size < 64 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 64, not {image_size}")
    return image_size


def _upsample(x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    if size is None:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def _freeze_unused(module: nn.Module, *names: str) -> None:
    """Submodules the official class registers but never calls: kept for strict loading,
    excluded from training (no gradient, so DDP needs no ``find_unused_parameters``)."""
    for name in names:
        getattr(module, name).requires_grad_(False)


def weights_init(m: nn.Module) -> None:
    """``network/networks.py:weights_init`` (applied to the discriminators)."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        m.weight.data.normal_(0.0, 0.02)
        if getattr(m, "bias", None) is not None:
            m.bias.data.fill_(0)
    elif classname.find("BatchNorm2d") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


# --------------------------------------------------------------------------- identity encoder


class BasicBlock(nn.Module):
    """Max-feature-map block (LightCNN): two conv+BN branches, element-wise max."""

    def __init__(
        self, inplanes: int, outplanes: int, name: str, conv_std: float = 0.058925565,
        kernel_size: int = 3, padding: int = 1, stride: int = 1,
    ) -> None:  # fmt: skip
        super().__init__()
        self.name = name
        self.conv_std = conv_std
        for branch in ("a", "b"):
            conv = nn.Conv2d(inplanes, outplanes, kernel_size, stride=stride, padding=padding)
            self.add_module(f"conv{name}_{branch}", conv)
        for branch in ("a", "b"):
            self.add_module(f"conv{name}_{branch}_bn", nn.BatchNorm2d(outplanes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=conv_std)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self._modules[f"conv{self.name}_a_bn"](self._modules[f"conv{self.name}_a"](x))
        b = self._modules[f"conv{self.name}_b_bn"](self._modules[f"conv{self.name}_b"](x))
        return torch.max(a, b)


# (block key, in, out, init std, kernel, stride, padding); official ``IdentityEncoder``. The
# keys are ``'block' + str(01)`` etc. in Python 2, where ``01`` is the integer 1.
_ID_BLOCKS = [
    ("01", 3, 32, 0.025253814, 7, 2, 3),
    ("11", 32, 32, 0.058925565, 3, 1, 1),
    ("12", 32, 32, 0.058925565, 3, 1, 1),
    ("13", 32, 64, 0.041666668, 3, 1, 1),
    ("14", 64, 64, 0.041666668, 3, 1, 1),
    ("21", 64, 96, 0.034020692, 3, 1, 1),
    ("22", 96, 96, 0.034020692, 3, 1, 1),
    ("23", 96, 128, 0.029462783, 3, 1, 1),
    ("24", 128, 128, 0.029462783, 3, 1, 1),
    ("25", 128, 160, 0.026352314, 3, 1, 1),
    ("26", 160, 160, 0.026352314, 3, 1, 1),
    ("31", 160, 320, 0.0186339, 3, 1, 1),
    ("32", 320, 320, 0.0186339, 3, 1, 1),
    ("33", 320, 320, 0.0186339, 3, 1, 1),
    ("34", 320, 320, 0.0186339, 3, 1, 1),
    ("41", 320, 256, 0.020833334, 5, 1, 2),
    ("42", 256, 256, 0.020833334, 5, 1, 2),
]


class IdentityEncoder(nn.Module):
    """pid encoder E_p^v: image (N,3,S,S) in [0,1] -> [pid (N,256), net4 (S/32), net3 (S/16),
    net2 (S/8, the decoder's skip), net1 (S/4, the word-from-pid classifier's input)]."""

    def __init__(self, width: float = 1.0, image_size: int = 256) -> None:
        super().__init__()
        self.image_size = _check_size(image_size)
        self.feature_length = scaled(FEATURE, width)
        for key, cin, cout, std, k, s, p in _ID_BLOCKS:
            cin = cin if key == "01" else scaled(cin, width)
            block = BasicBlock(cin, scaled(cout, width), key, std, k, p, s)
            self.add_module(f"block{int(key)}", block)
            if key in ("01", "14", "26", "34"):
                self.add_module(f"pool{'01 14 26 34'.split().index(key) + 1}", nn.MaxPool2d(2, 2))
        self.dropout = nn.Dropout2d(0.5)  # registered, unused (as official)
        self.avgpool = nn.AvgPool2d(image_size // 32, stride=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.reshape(-1, 3, self.image_size, self.image_size)
        net1 = self.pool1(self.block1(x))
        for j in range(11, 15):
            net1 = self._modules[f"block{j}"](net1)
        net2 = self.pool2(net1)
        for j in range(21, 27):
            net2 = self._modules[f"block{j}"](net2)
        net3 = self.pool3(net2)
        for j in range(31, 35):
            net3 = self._modules[f"block{j}"](net3)
        net4 = self.pool4(net3)
        for j in range(41, 43):
            net4 = self._modules[f"block{j}"](net4)
        net = self.avgpool(net4).reshape(-1, self.feature_length)
        return [net, net4, net3, net2, net1]


# --------------------------------------------------------------------------- video wid encoder


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False)


class ConvBlock(nn.Module):
    """FAN's residual block: three 3x3 convs of out/2, out/4, out/4 channels, concatenated."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        half, quarter = out_planes // 2, out_planes // 4
        rest = out_planes - half - quarter  # = quarter at the official widths
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = conv3x3(in_planes, half)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = conv3x3(half, quarter)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = conv3x3(quarter, rest)
        self.downsample = None
        if in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.BatchNorm2d(in_planes),
                nn.ReLU(True),
                nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=1, bias=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        out = torch.cat((out1, out2, out3), 1)
        residual = x if self.downsample is None else self.downsample(x)
        return out + residual


class HourGlass(nn.Module):
    def __init__(self, num_modules: int, depth: int, num_features: int) -> None:
        super().__init__()
        self.num_modules = num_modules
        self.depth = depth
        self.features = num_features
        self.dropout = nn.Dropout(0.5)
        self._generate_network(depth)

    def _generate_network(self, level: int) -> None:
        f = self.features
        self.add_module(f"b1_{level}", ConvBlock(f, f))
        self.add_module(f"b2_{level}", ConvBlock(f, f))
        if level > 1:
            self._generate_network(level - 1)
        else:
            self.add_module(f"b2_plus_{level}", ConvBlock(f, f))
        self.add_module(f"b3_{level}", ConvBlock(f, f))

    def _forward(self, level: int, inp: torch.Tensor) -> torch.Tensor:
        up1 = self.dropout(self._modules[f"b1_{level}"](inp))
        low1 = self._modules[f"b2_{level}"](F.max_pool2d(inp, 2, stride=2))
        if level > 1:
            low2 = self._forward(level - 1, low1)
        else:
            low2 = self._modules[f"b2_plus_{level}"](low1)
        low3 = self._modules[f"b3_{level}"](low2)
        return up1 + _upsample(low3, size=(up1.shape[2], up1.shape[3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self.depth, x)


class FAN_use(nn.Module):  # noqa: N801 (official name)
    """FAN trunk (one hourglass) to 68 heat maps at S/4."""

    def __init__(self, width: float = 1.0, image_size: int = 256) -> None:
        super().__init__()
        c = lambda n: scaled(n, width)  # noqa: E731
        self.num_modules = 1
        self.conv1 = nn.Conv2d(3, c(64), kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(c(64))
        self.conv2 = ConvBlock(c(64), c(128))
        self.conv3 = ConvBlock(c(128), c(128))
        self.conv4 = ConvBlock(c(128), c(256))
        self.add_module("m0", HourGlass(1, 4, c(256)))
        self.add_module("top_m_0", ConvBlock(c(256), c(256)))
        self.add_module("conv_last0", nn.Conv2d(c(256), c(256), 1, 1, 0))
        self.add_module("l0", nn.Conv2d(c(256), c(68), 1, 1, 0))
        self.add_module("bn_end0", nn.BatchNorm2d(c(256)))
        # registered but unused by the official forward (kept for strict loading)
        self.conv5 = nn.Conv2d(c(256), c(256), kernel_size=5, stride=3, padding=1)
        self.avgpool = nn.MaxPool2d((2, 2), 2)
        self.conv6 = nn.Conv2d(c(68), 1, 3, 2, 1)
        self.fc = nn.Linear((image_size // 8) ** 2, c(256))
        _freeze_unused(self, "conv5", "conv6", "fc")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(self.conv2(x), 2)
        x = self.conv4(self.conv3(x))
        ll = self.top_m_0(self.m0(x))
        ll = self.bn_end0(self.conv_last0(ll))
        return self.l0(F.relu(ll))


class FanFusion(nn.Module):
    """Video wid encoder E_w^v: frames (B, T, 3, S, S) -> (B, T, 256)."""

    def __init__(self, width: float = 1.0, image_size: int = 256) -> None:
        super().__init__()
        self.image_size = _check_size(image_size)
        self.feature_length = scaled(FEATURE, width)
        self.model = FAN_use(width, image_size)
        self.conv6 = nn.Conv2d(scaled(68, width), 1, 3, 2, 1)
        self.fc = nn.Linear((image_size // 8) ** 2, self.feature_length)
        self.bn1 = nn.BatchNorm2d(scaled(68, width))
        self.relu = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        net = self.model(x.reshape(-1, 3, self.image_size, self.image_size))
        net = self.conv6(self.relu(self.bn1(net)))
        net = self.fc(self.relu(net.flatten(1)))
        return net.reshape(b, -1, self.feature_length)


# --------------------------------------------------------------------------- audio wid encoder


class mfcc_encoder(nn.Module):  # noqa: N801
    """Audio branch 1: (N,1,20,12) -> (N,512,1,1) through strided 3x3 convs."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c = lambda n: scaled(n, width)  # noqa: E731
        self.relu = nn.LeakyReLU(0.2, True)
        self.conv1 = nn.Conv2d(1, c(64), (3, 3), stride=(3, 2), padding=(1, 2), bias=False)
        self.pool1 = nn.AvgPool2d((2, 2), 2)
        self.bn1 = nn.BatchNorm2d(c(64))
        self.conv2 = nn.Conv2d(c(64), c(128), (3, 3), 2, 1, bias=False)
        self.pool2 = nn.AvgPool2d(2, 2)
        self.bn2 = nn.BatchNorm2d(c(128))
        self.conv3 = nn.Conv2d(c(128), c(256), (3, 3), 1, 0, bias=False)
        self.bn3 = nn.BatchNorm2d(c(256))
        self.conv4 = nn.Conv2d(c(256), c(512), (2, 2), 1, bias=False)
        self.bn5 = nn.BatchNorm2d(c(512))  # registered, unused
        self.tanh = nn.Tanh()
        _freeze_unused(self, "bn5")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.relu(self.bn1(self.conv1(x)))
        net = self.relu(self.bn2(self.conv2(net)))
        net = self.relu(self.bn3(self.conv3(net)))
        return self.conv4(net)


class _BatchNorm1dOn4d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` that, like PyTorch 0.3's, normalises any (N, C, ...) input."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")


class mfcc_encoder_alter(nn.Module):  # noqa: N801
    """Audio branch 2: a full-width (3 x 12) conv over time, then 1-D convs -> (N,512,1,1)."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c = lambda n: scaled(n, width)  # noqa: E731
        self.relu = nn.LeakyReLU(0.2, True)
        self.conv1 = nn.Conv2d(1, c(64), kernel_size=(3, 12), stride=(1, 1), padding=0, bias=False)
        self.bn1 = _BatchNorm1dOn4d(c(64))
        self.pool1 = nn.MaxPool2d(1, 3)
        self.conv2 = nn.Conv2d(c(64), c(256), (3, 1), 1, (1, 0), bias=False)
        self.bn2 = nn.BatchNorm2d(c(256))
        self.pool2 = nn.MaxPool2d(1, 2)
        self.conv3 = nn.Conv2d(c(256), c(512), (3, 1), 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.pool1(self.relu(self.bn1(self.conv1(x))))
        net = self.pool2(self.relu(self.bn2(self.conv2(net))))
        return self.conv3(net)


class mfcc_encoder_two(nn.Module):  # noqa: N801
    """Audio wid encoder E_w^a: MFCC windows (B, T, 20, 12) (time x coefficient, any extra
    singleton channel axis) -> (B, T, 256)."""

    MFCC_LENGTH = 20
    MFCC_WIDTH = 12

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.feature_length = scaled(FEATURE, width)
        self.model1 = mfcc_encoder(width)
        self.model2 = mfcc_encoder_alter(width)
        self.fc = nn.Linear(2 * scaled(512, width), self.feature_length)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        x0 = x.reshape(-1, 1, self.MFCC_LENGTH, self.MFCC_WIDTH)
        net = torch.cat((self.model1(x0), self.model2(x0)), 1).flatten(1)
        return self.fc(net).reshape(b, -1, self.feature_length)


# --------------------------------------------------------------------------- decoder


class DecoderConvBlock(nn.Module):
    """``Decoder_networks.ConvBlock``: ``nums`` conv+BN+ReLU layers named ``conv<name>_<i>``."""

    def __init__(self, inplanes: int, outplanes: int, name: str, nums: int = 3) -> None:
        super().__init__()
        self.nums = nums
        self.name = name
        self.relu = nn.ReLU(True)
        for i in range(nums):
            self.add_module(f"conv{name}_{i}", nn.Conv2d(inplanes, outplanes, 3, padding=1))
            self.add_module(f"conv{name}_{i}_bn", nn.BatchNorm2d(outplanes))
            inplanes = outplanes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.nums):
            x = self._modules[f"conv{self.name}_{i}"](x)
            x = self.relu(self._modules[f"conv{self.name}_{i}_bn"](x))
        return x


class Decoder(nn.Module):
    """Generator G: (pid features of :class:`IdentityEncoder`, wid (N,256)) -> (N,3,S,S) in
    [0,1]. A 4x4 conv-transpose, six conv blocks each followed by x2 bilinear upsampling, the
    identity skip (net2) concatenated before block 4 at S/8, two 3x3 conv-transposes, tanh."""

    def __init__(self, width: float = 1.0, image_size: int = 256) -> None:
        super().__init__()
        c = lambda n: scaled(n, width)  # noqa: E731
        self.image_size = _check_size(image_size)
        self.feature_length = c(FEATURE)
        # at 256 every block upsamples (4 -> 256); smaller images skip the first ones
        self.skip_upsampling = 6 - int(math.log2(image_size // 4))
        self.relu = nn.ReLU()
        self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.deconv1_1_new = nn.ConvTranspose2d(2 * c(FEATURE), c(512), (4, 4), 1, 0)
        self.deconv1_1_bn = nn.BatchNorm2d(c(512))
        self.convblock1 = DecoderConvBlock(c(512), c(512), "1", nums=2)
        self.convblock2 = DecoderConvBlock(c(512), c(512), "2", nums=3)
        self.convblock3 = DecoderConvBlock(c(512), c(256), "3", nums=4)
        self.convblock4 = DecoderConvBlock(c(256) + c(160), c(256), "4", nums=4)
        self.convblock5 = DecoderConvBlock(c(256), c(128), "5", nums=3)
        self.convblock6 = DecoderConvBlock(c(128), c(64), "6", nums=2)
        self.conv7_1 = nn.ConvTranspose2d(c(64), c(32), 3, 1, 1)
        self.conv7_1_bn = nn.BatchNorm2d(c(32))
        self.conv7_2 = nn.ConvTranspose2d(c(32), 3, 3, 1, 1)
        self.tanh = nn.Tanh()

    def forward(self, id_feature: list[torch.Tensor], word_feature: torch.Tensor) -> torch.Tensor:
        pid = id_feature[0].reshape(-1, self.feature_length, 1, 1)
        wid = word_feature.reshape(-1, self.feature_length, 1, 1)
        net = self.relu(self.deconv1_1_bn(self.deconv1_1_new(torch.cat((pid, wid), dim=1))))
        for i in range(6):
            if i == 3:
                net = torch.cat((id_feature[i], net), 1)
            net = self._modules[f"convblock{i + 1}"](net)
            if i >= self.skip_upsampling:
                net = self.upsample(net)
        net = self.relu(self.conv7_1_bn(self.conv7_1(net)))
        return (self.tanh(self.conv7_2(net)) + 1) / 2.0


# --------------------------------------------------------------------------- classifiers


class ModelFusion(nn.Module):
    """Shared word classifier C_w: ``pred_length`` wid features (B, T, 256) -> word logits."""

    def __init__(
        self, pred_length: int = 12, label_size: int = 500, width: float = 1.0,
        init_small: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.in_features = pred_length * scaled(FEATURE, width)
        self.fc_1 = nn.Linear(self.in_features, scaled(512, width))
        self.fc_2 = nn.Linear(scaled(512, width), label_size)
        self.relu = nn.ReLU(True)
        self.sig = nn.Sigmoid()
        self.dis = nn.Linear(scaled(512, width), 1)  # registered, unused
        _freeze_unused(self, "dis")
        if init_small:  # official: when not resuming
            self.fc_1.weight.data.normal_(0, 0.0001)
            self.fc_1.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_2(self.relu(self.fc_1(x.reshape(-1, self.in_features))))


class discriminator_audio(nn.Module):  # noqa: N801
    """Domain classifier for L_adv^D: a wid feature -> logit of "comes from audio"."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.feature_length = scaled(FEATURE, width)
        self.fc1 = nn.Linear(self.feature_length, self.feature_length)
        self.fc2 = nn.Linear(self.feature_length, 1)
        self.relu = nn.ReLU(True)
        self.sig = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x.reshape(-1, self.feature_length))))


class ID_dis32(nn.Module):  # noqa: N801
    """Word-from-pid classifier C_p^w on the identity encoder's early features (net1, S/4)
    of ``disfc_length`` frames -> word logits."""

    def __init__(
        self, disfc_length: int = 20, label_size: int = 500, width: float = 1.0,
        image_size: int = 256, init_small: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.disfc_length = disfc_length
        self.feature_length = scaled(64, width)
        self.side = image_size // 4
        self.hidden = scaled(128, width)
        self.conv6 = nn.Conv2d(self.feature_length, 1, 3, 2, 1)
        self.fc = nn.Linear((image_size // 8) ** 2, self.hidden)
        self.relu = nn.ReLU(True)
        self.dropout = nn.Dropout(0.5)
        self.fc_2 = nn.Linear(self.hidden * disfc_length, label_size)
        if init_small:
            self.fc_2.weight.data.normal_(0, 0.0001)
            self.fc_2.bias.data.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, self.feature_length, self.side, self.side)
        net = self.fc(self.relu(self.conv6(x)).flatten(1))
        net = net.reshape(-1, self.disfc_length * self.hidden)
        return self.fc_2(self.dropout(net))


class Face_ID_fc(nn.Module):  # noqa: N801
    """Person classifier for pretraining the identity encoder (pid -> person logits)."""

    def __init__(self, id_label_size: int, width: float = 1.0) -> None:
        super().__init__()
        self.feature_length = scaled(FEATURE, width)
        self.fc = nn.Linear(self.feature_length, id_label_size)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(x.reshape(-1, self.feature_length)))


# --------------------------------------------------------------------------- sequence GAN


class Discriminator(nn.Module):
    """PatchGAN sequence discriminator D_seq with an audio-matching head.

    ``input`` (N, 3*T, S, S) frames stacked on channels, ``audio`` (N, T, 20, 12). Returns
    [patch logits (N,1,S/8-2,S/8-2), match logit (N,1)]: the second head crops a window of
    the conv3 feature map around the mouth (official: ``[19:28, 11:20]`` at 256, which is
    the 9x9 window centred on the template's mouth point; here derived from the template),
    and scores it together with the encoded audio."""

    def __init__(
        self, input_nc: int, ndf: int = 64, n_layers: int = 3, width: float = 1.0,
        image_size: int = 256,
    ) -> None:  # fmt: skip
        super().__init__()
        c = lambda n: scaled(n, width)  # noqa: E731
        _check_size(image_size)
        ndf = c(ndf)
        kw, padw = 4, 1
        self.n_layers = n_layers
        self.conv1 = nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw)
        self.relu = nn.LeakyReLU(0.2, True)
        nf_mult = 1
        for n in range(1, n_layers):
            nf_mult_prev, nf_mult = nf_mult, min(2**n, 8)
            conv = nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kw, 2, padw, bias=False)
            self.add_module(f"conv2_{n}", conv)
            self.add_module(f"norm_{n}", nn.BatchNorm2d(ndf * nf_mult))
        nf_mult_prev, nf_mult = nf_mult, min(2**n_layers, 8)
        self.conv3 = nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kw, 1, padw, bias=False)
        self.norm3 = nn.BatchNorm2d(ndf * nf_mult)
        self.conv4 = nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw)
        audio_nc = input_nc // 3
        self.mfcc_conv1 = nn.Conv2d(audio_nc, c(64), (3, 3), (3, 2), (1, 2), bias=False)
        self.mfcc_bn1 = nn.BatchNorm2d(c(64))
        self.mfcc_conv2 = nn.Conv2d(c(64), c(128), (3, 3), 2, 1, bias=False)
        self.mfcc_bn2 = nn.BatchNorm2d(c(128))
        self.mfcc_conv3 = nn.Conv2d(c(128), c(256), (3, 3), 1, 0, bias=False)
        self.mfcc_bn3 = nn.BatchNorm2d(c(256))
        self.mfcc_conv4 = nn.Conv2d(c(256), c(256), (2, 2), 1, bias=False)
        self.mfcc_bn4 = nn.BatchNorm2d(c(256))
        self.conv6 = nn.Conv2d(c(512), c(512), 3, 1, bias=False)
        self.conv8 = nn.Conv2d(c(512), 1, 1, 1, bias=False)  # registered, unused
        self.bn6 = nn.BatchNorm2d(c(512))
        self.bn7 = nn.BatchNorm2d(c(512))  # unused
        self.bn8 = nn.BatchNorm2d(1)  # unused
        self.bn9 = nn.BatchNorm2d(c(512))  # unused
        # the mouth window of the conv3 map (official 9x9 at 256 -> conv6 3x3 -> conv9 7x7)
        self.window = discriminator_mouth_window(image_size)
        self.conv9 = nn.Conv2d(c(512), c(512), self.window.size - 2, 1)
        self.fc = nn.Linear(c(256) + c(512), c(512))
        self.fc2 = nn.Linear(c(512), 1)
        self.sig = nn.Sigmoid()
        _freeze_unused(self, "conv8", "bn7", "bn8", "bn9")

    def forward(self, input: torch.Tensor, audio: torch.Tensor) -> list[torch.Tensor]:
        net = self.relu(self.conv1(input))
        for n in range(1, self.n_layers):
            net = self._modules[f"conv2_{n}"](net)
            net = self.relu(self._modules[f"norm_{n}"](net))
        net = self.relu(self.norm3(self.conv3(net)))
        patch = self.conv4(net)
        w = self.window
        net = net[:, :, w.top : w.top + w.size, w.left : w.left + w.size]
        net = self.relu(self.bn6(self.conv6(net)))
        enc = self.mfcc_bn1(self.mfcc_conv1(audio))  # no activations here, as official
        for i in range(2, 5):
            enc = self._modules[f"mfcc_bn{i}"](self._modules[f"mfcc_conv{i}"](enc))
        net = self.relu(self.conv9(net))
        net = torch.cat((net, enc), dim=1).flatten(1)
        return [patch, self.fc2(self.fc(net))]
