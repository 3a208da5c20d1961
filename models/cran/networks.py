"""CRAN's networks, appendix Tables 5-8 of Song et al. 2019 (arXiv v2).

"SAME" padding is TensorFlow's: output = ceil(input / stride), and when the total padding is
odd the extra row/column goes to the bottom/right. :class:`SameConv2d` and
:class:`SameConvTranspose2d` reproduce that exactly (PyTorch's symmetric ``padding=`` would
shift stride-2 layers by one pixel and cannot give Table 8's 7 -> 4 step); max-pools
(:class:`SameMaxPool2d`, kernel 3, the tables' default) pad the same way with -inf. A convolution or
fully connected layer followed by BatchNorm has no bias (BN's shift replaces it); the output
layers (z_A, z_I, the tanh deconvolution, both discriminator heads) have one.

Widths are the tables' divided by ``divisor`` (1 = the paper; tests use small ones).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding (asymmetric when the total is odd)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, bias: bool = True):
        super().__init__(cin, cout, kernel, stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = _same_pads(x.shape[-2], kh, sh)
        left, right = _same_pads(x.shape[-1], kw, sw)
        return super().forward(nn.functional.pad(x, (left, right, top, bottom)))


class SameConvTranspose2d(nn.ConvTranspose2d):
    """TensorFlow ``conv2d_transpose(padding="SAME")``: output = input x stride, the adjoint
    of :class:`SameConv2d` (crops the full transposed output like SAME padded the input)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, bias: bool = True):
        super().__init__(cin, cout, kernel, stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = super().forward(x)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        oh, ow = x.shape[-2] * sh, x.shape[-1] * sw
        top, _ = _same_pads(oh, kh, sh)
        left, _ = _same_pads(ow, kw, sw)
        return y[..., top : top + oh, left : left + ow]


class SameMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` with TensorFlow "SAME" padding (padded cells never win)."""

    def __init__(self, kernel: int, stride: int | tuple[int, int]) -> None:
        super().__init__(kernel, stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = nn.modules.utils._pair(self.kernel_size)
        s = nn.modules.utils._pair(self.stride)
        top, bottom = _same_pads(x.shape[-2], k[0], s[0])
        left, right = _same_pads(x.shape[-1], k[1], s[1])
        x = nn.functional.pad(x, (left, right, top, bottom), value=float("-inf"))
        return super().forward(x)


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        SameConv2d(cin, cout, kernel, stride, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)
    )


def _w(n: int, divisor: int) -> int:
    return max(1, n // divisor)


class AudioEncoder(nn.Module):
    """E_A (Table 5): a 12x35 MFCC window (coefficients x 10 ms steps) -> z_A (code_dim).
    Kernel 3, stride 1 convolutions; max-pools of kernel 3 with strides (1,2) and (2,2)."""

    def __init__(self, code_dim: int = 256, divisor: int = 1) -> None:
        super().__init__()
        c = [_w(n, divisor) for n in (64, 128, 256, 256, 512)]
        self.conv = nn.Sequential(
            _conv_bn_relu(1, c[0], 3, 1),  # 12x35x64
            _conv_bn_relu(c[0], c[1], 3, 1),  # 12x35x128
            SameMaxPool2d(3, stride=(1, 2)),  # 12x18x128 (SAME: ceil(35/2) = 18)
            _conv_bn_relu(c[1], c[2], 3, 1),  # 12x18x256
            _conv_bn_relu(c[2], c[3], 3, 1),  # 12x18x256
            _conv_bn_relu(c[3], c[4], 3, 1),  # 12x18x512
            SameMaxPool2d(3, stride=2),  # 6x9x512
        )
        hidden = _w(512, divisor)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c[4] * 6 * 9, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(True),
            nn.Linear(hidden, code_dim),
        )

    def forward(self, mfcc: torch.Tensor) -> torch.Tensor:
        """``mfcc`` (N, 12, 35) or (N, 1, 12, 35) -> (N, code_dim)."""
        if mfcc.dim() == 3:
            mfcc = mfcc.unsqueeze(1)
        return self.fc(self.conv(mfcc))


class ImageEncoder(nn.Module):
    """E_I (Table 6): a 112x112 reference face -> z_I (code_dim), plus the 56x56, 28x28 and
    14x14 feature maps the decoder's U-Net skips take. Kernel 5, stride 2."""

    def __init__(self, code_dim: int = 256, divisor: int = 1, in_images: int = 1) -> None:
        super().__init__()
        c = [_w(n, divisor) for n in (64, 128, 256, 512)]
        self.conv1 = _conv_bn_relu(3 * in_images, c[0], 5, 2)  # 56x56x64
        self.conv2 = _conv_bn_relu(c[0], c[1], 5, 2)  # 28x28x128
        self.conv3 = _conv_bn_relu(c[1], c[2], 5, 2)  # 14x14x256
        self.conv4 = _conv_bn_relu(c[2], c[3], 5, 2)  # 7x7x512
        hidden = _w(512, divisor)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c[3] * 7 * 7, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(True),
            nn.Linear(hidden, code_dim),
        )

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``image`` (N, 3, 112, 112) in [-1, 1] -> (z_I (N, code_dim), [f56, f28, f14])."""
        f56 = self.conv1(image)
        f28 = self.conv2(f56)
        f14 = self.conv3(f28)
        return self.fc(self.conv4(f14)), [f56, f28, f14]


class Decoder(nn.Module):
    """G (Table 7): a 512-d code ([z_A, z_I] in the CAE, the GRU output in the RAE) ->
    112x112x3 in [-1, 1]. FC to 7x7x512 (BatchNorm per channel after the reshape, as TF
    DCGAN-style code does), kernel-5 stride-2 deconvolutions whose outputs are concatenated
    with E_I's 14/28/56 maps (U-Net: 14x14x(256+256), 28x28x(128+128), 56x56x(64+64)), a
    112x112x32 deconvolution, then a stride-1 deconvolution and tanh (Table 7's output is
    112x112, so its last layer cannot have the default stride 2)."""

    def __init__(self, in_dim: int = 512, divisor: int = 1) -> None:
        super().__init__()
        c = [_w(n, divisor) for n in (512, 256, 128, 64, 32)]
        self.c0 = c[0]
        self.fc = nn.Linear(in_dim, c[0] * 7 * 7, bias=False)
        self.fc_bn = nn.BatchNorm2d(c[0])
        self.up1 = self._up(c[0], c[1])  # 14x14x256 (+256 skip)
        self.up2 = self._up(2 * c[1], c[2])  # 28x28x128 (+128)
        self.up3 = self._up(2 * c[2], c[3])  # 56x56x64 (+64)
        self.up4 = self._up(2 * c[3], c[4])  # 112x112x32
        self.out = SameConvTranspose2d(c[4], 3, 5, 1)

    @staticmethod
    def _up(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            SameConvTranspose2d(cin, cout, 5, 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)
        )

    def forward(self, code: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """``code`` (N, in_dim), ``skips`` [f56, f28, f14] of E_I (N rows each)."""
        f56, f28, f14 = skips
        x = torch.relu(self.fc_bn(self.fc(code).view(-1, self.c0, 7, 7)))
        x = torch.cat([self.up1(x), f14], 1)
        x = torch.cat([self.up2(x), f28], 1)
        x = torch.cat([self.up3(x), f56], 1)
        return torch.tanh(self.out(self.up4(x)))


class RecurrentEncoder(nn.Module):
    """R_E (Sec. 3.2): a GRU over the hybrid codes [z_A(t), z_I] of a sequence, with
    orthogonal initialisation (Sec. 4.2; each gate's input and recurrent matrix is
    orthogonal, biases zero).

    Width: the paper does not give it. We use 2 x code_dim = 512, the width of [z_A, z_I]
    that the CAE decoder's first layer reads (Table 7, row 0), so the RAE's decoder is the
    CAE's decoder unchanged and the hand-off from the CAE needs no new adapter layer."""

    def __init__(self, in_dim: int = 512, hidden: int = 512) -> None:
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden, batch_first=True)
        for name, p in self.gru.named_parameters():
            if name.startswith("weight"):
                for block in p.data.chunk(3, 0):  # reset, update, new gates
                    nn.init.orthogonal_(block)
            else:
                nn.init.zeros_(p)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes`` (B, T, in_dim) -> (B, T, hidden), starting from a zero state."""
        return self.gru(codes)[0]


class MultiTaskDiscriminator(nn.Module):
    """D (Table 8): shared kernel-4 stride-2 layers to 7x7x128, then

    - output 1, image-aware: a stride-1 convolution to a 7x7 PatchGAN map (Pix2pix);
    - output 2, matching-aware: a stride-2 convolution to 4x4x256, z_A tiled over the 4x4
      grid and concatenated (256 + 256, as in Reed et al. 2016's matching-aware D), a 1x1
      convolution to 128, and a 4x4 VALID convolution to one logit.

    Heads return logits (the losses apply the sigmoid)."""

    def __init__(self, code_dim: int = 256, divisor: int = 1, in_images: int = 1) -> None:
        super().__init__()
        c = [_w(n, divisor) for n in (16, 32, 64, 128, 256, 128)]
        self.trunk = nn.Sequential(
            _conv_bn_relu(3 * in_images, c[0], 4, 2),  # 56x56x16
            _conv_bn_relu(c[0], c[1], 4, 2),  # 28x28x32
            _conv_bn_relu(c[1], c[2], 4, 2),  # 14x14x64
            _conv_bn_relu(c[2], c[3], 4, 2),  # 7x7x128
        )
        self.image_head = SameConv2d(c[3], 1, 4, 1)  # 7x7x1
        self.match_conv = _conv_bn_relu(c[3], c[4], 4, 2)  # 4x4x256
        self.match_mix = _conv_bn_relu(c[4] + code_dim, c[5], 1, 1)  # 4x4x128
        self.match_head = nn.Conv2d(c[5], 1, 4)  # VALID: 1x1x1

    def features(self, image: torch.Tensor) -> torch.Tensor:
        return self.trunk(image)

    def image_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, 1, 7, 7) PatchGAN logits."""
        return self.image_head(feats)

    def match_logits(self, feats: torch.Tensor, z_audio: torch.Tensor) -> torch.Tensor:
        """(N,) logits of "this face matches this audio code"."""
        return self._match(self.match_conv(feats), z_audio)

    def _match(self, h: torch.Tensor, z_audio: torch.Tensor) -> torch.Tensor:
        z = z_audio[:, :, None, None].expand(-1, -1, h.shape[-2], h.shape[-1])
        return self.match_head(self.match_mix(torch.cat([h, z.to(h.dtype)], 1))).flatten()

    def forward(
        self,
        real: torch.Tensor,
        fake: torch.Tensor,
        z_audio: torch.Tensor,
        z_mismatch: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """The discriminator step's five outputs in one call (one forward for DDP). Real and
        generated frames go through the trunk separately, so BatchNorm sees each on its
        own (as separate discriminator calls in TF GAN code do)."""
        real_feats, fake_feats = self.features(real), self.features(fake)
        real_h = self.match_conv(real_feats)
        return {
            "real_image": self.image_logits(real_feats),
            "fake_image": self.image_logits(fake_feats),
            "real_match": self._match(real_h, z_audio),
            "mismatch": self._match(real_h, z_mismatch),
            "fake_match": self.match_logits(fake_feats, z_audio),
        }
