"""VGG-Face features for the perceptual losses of CRAN (Eq. 4) and DVAE's stage 2 (Sec. 3.3);
Parkhi et al. 2015; Johnson et al. 2016. Shared by the methods, so it lives in the core.

The network is VGG-16 as in the public PyTorch conversion of VGG-Face, ``vgg_face_dag.pth``
(S. Albanie's conversion of the MatConvNet model): a state dict with ``conv1_1.weight`` ...
``conv5_3.bias`` (3x3 convolutions, padding 1), and ``fc6``/``fc7``/``fc8`` (unused here);
inputs are RGB in 0..255 minus the mean (129.186279296875, 104.76238250732422,
93.59396362304688). Only the convolutions up to the deepest requested layer are built and
loaded. Weights cannot be downloaded here: the user passes the file
(``vgg_face_weights=PATH``); asking for the loss without it is an error naming the file.

CRAN's Eq. 4 sums ||phi_i(I) - phi_i(~I)|| over C layers without naming them or the norm; we
use the mean absolute difference at relu1_2, relu2_2, relu3_3 and relu4_3 (the layers of the
perceptual loss paper it cites, [22]). The convolutions take any size (only fc6 needs
224x224): CRAN computes it at its own 112x112; ``input_size`` resizes first (DVAE's 256x256
frames go to VGG-Face's 224, the scale its filters were trained at).

A run that uses the loss records the weights file (:func:`weights_record`: path and sha256)
and refuses to resume with another (:func:`check_same_weights`): the loss is part of the
objective, so other weights would silently change it mid-run.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_FILE = "vgg_face_dag.pth"
VGG_FACE_MEAN_RGB = (129.186279296875, 104.76238250732422, 93.59396362304688)
# (block, number of convolutions, output channels) of VGG-16
_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
LAYERS = tuple(f"relu{b}_{i}" for b, n, _ in _BLOCKS for i in range(1, n + 1))


class VggFaceWeightsError(FileNotFoundError):
    """The VGG-Face weights file is missing or not in the public conversion's layout."""


class VggFaceFeatures(nn.Module):
    """VGG-Face's convolutional trunk returning the requested ReLU outputs; frozen.
    ``input_size``: resize inputs to this square side first (bilinear, antialiased), or None
    to run at the input's own size."""

    def __init__(
        self,
        layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
        input_size: int | None = None,
    ):
        super().__init__()
        if input_size is not None and int(input_size) < 1:
            raise ValueError(f"input_size must be >= 1 or None, not {input_size}")
        self.input_size = None if input_size is None else int(input_size)
        unknown = [x for x in layers if x not in LAYERS]
        if unknown or not layers:
            raise ValueError(f"unknown VGG-Face layers {unknown}; choose from {LAYERS}")
        self.layers = tuple(layers)
        deepest = max(LAYERS.index(x) for x in layers)
        self.convs: list[tuple[str, bool]] = []  # (name, max-pool after it)
        cin = 3
        for block, n, cout in _BLOCKS:
            for i in range(1, n + 1):
                if len(self.convs) > deepest:
                    break
                name = f"conv{block}_{i}"
                self.add_module(name, nn.Conv2d(cin, cout, 3, padding=1))
                self.convs.append((name, i == n))
                cin = cout
        self.register_buffer(
            "mean", torch.tensor(VGG_FACE_MEAN_RGB).view(1, 3, 1, 1), persistent=False
        )
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VggFaceFeatures:  # frozen: always eval
        return super().train(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images`` (N, 3, H, W) RGB in [-1, 1] -> the requested feature maps, in order."""
        if self.input_size is not None and tuple(images.shape[-2:]) != (self.input_size,) * 2:
            images = F.interpolate(
                images, size=(self.input_size, self.input_size), mode="bilinear",
                align_corners=False, antialias=True,
            )  # fmt: skip
        x = (images + 1.0) * 127.5 - self.mean.to(images.dtype)
        out: dict[str, torch.Tensor] = {}
        for name, pool_after in self.convs:
            x = torch.relu(getattr(self, name)(x))
            if (relu := "relu" + name[4:]) in self.layers:
                out[relu] = x
            if pool_after:
                x = nn.functional.max_pool2d(x, 2, 2)
        return [out[x] for x in self.layers]


def load_vgg_face(
    path: str | os.PathLike | None,
    layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
    input_size: int | None = None,
) -> VggFaceFeatures:
    """Build :class:`VggFaceFeatures` and load the convolutions from ``path`` (the public
    ``vgg_face_dag.pth``: a state dict, or a checkpoint holding one under ``state_dict``)."""
    if path is None:
        raise VggFaceWeightsError(
            f"the perceptual loss needs VGG-Face weights: pass the public conversion "
            f"{WEIGHTS_FILE} (vgg_face_weights=PATH / --vgg-face-weights PATH; it cannot be "
            "downloaded at run time), or turn the perceptual loss off"
        )
    file = Path(path).expanduser()
    if not file.is_file():
        raise VggFaceWeightsError(
            f"VGG-Face weights file {str(file)!r} not found (expected the public conversion "
            f"{WEIGHTS_FILE}, a PyTorch state dict with conv1_1.weight ... conv5_3.bias)"
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise VggFaceWeightsError(f"cannot read VGG-Face weights {str(file)!r}: {e}") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    net = VggFaceFeatures(layers, input_size)
    wanted = net.state_dict()
    missing = [k for k in wanted if k not in state]
    if missing:
        raise VggFaceWeightsError(
            f"VGG-Face weights {str(file)!r} lack {', '.join(missing[:4])}"
            f"{' ...' if len(missing) > 4 else ''}: not the {WEIGHTS_FILE} layout"
        )
    for k, v in wanted.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise VggFaceWeightsError(
                f"VGG-Face weights {str(file)!r}: {k} has shape {tuple(state[k].shape)}, "
                f"expected {tuple(v.shape)}"
            )
    net.load_state_dict({k: state[k] for k in wanted})
    return net


def weights_record(path: str | os.PathLike) -> dict[str, Any]:
    """What identifies the weights a run's perceptual loss uses: the path and the sha256 of
    the file (read in 1 MiB blocks; the public file is ~580 MB)."""
    digest = hashlib.sha256()
    with open(Path(path).expanduser(), "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return {"path": os.fspath(path), "sha256": digest.hexdigest()}


def check_same_weights(saved: dict[str, Any] | None, current: dict[str, Any] | None) -> None:
    """Refuse to resume a run with other VGG-Face weights than it trained with (or with the
    perceptual loss switched on or off): the objective would change mid-run."""
    if saved is None and current is None:
        return
    if saved is None:
        raise ValueError(
            f"this run trained without the perceptual loss: resume it without VGG-Face weights "
            f"(now {current['path']!r}), or start a new run"
        )
    if current is None:
        raise ValueError(
            f"this run trained with the perceptual loss on VGG-Face weights {saved['path']!r} "
            f"(sha256 {saved['sha256'][:12]}): resume with the same weights file"
        )
    if saved["sha256"] != current["sha256"]:
        raise ValueError(
            f"this run trained with VGG-Face weights {saved['path']!r} (sha256 "
            f"{saved['sha256'][:12]}), not {current['path']!r} (sha256 "
            f"{current['sha256'][:12]}): resume with the same weights file"
        )


def perceptual_loss(
    vgg: VggFaceFeatures, generated: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Eq. 4: sum over the layers of the mean absolute feature difference. Gradients flow
    into ``generated`` only."""
    with torch.no_grad():
        target_feats = vgg(target)
    total = torch.zeros((), device=generated.device)
    for g, t in zip(vgg(generated), target_feats, strict=True):
        total = total + (g.float() - t.float()).abs().mean()
    return total
