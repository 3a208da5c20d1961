"""Frechet Inception Distance between real and generated frames, through well-kept packages:
torchmetrics' ``FrechetInceptionDistance`` (streaming sums of features and their outer
products in float64; ``d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2)``) over the 2048-d
pool features of torch-fidelity's ``FeatureExtractorInceptionV3`` (the TF-FID Inception,
``inception-v3-compat``), the network torchmetrics itself uses.

- **Weights**: the user supplies torch-fidelity's
  ``weights-inception-2015-12-05-6726825d.pth`` (the original TF FID graph ported to
  PyTorch); avprep never downloads it. Pass its path or set ``$AVPREP_INCEPTION``.
- **Resize**: frames go in as uint8; torchmetrics resizes them to 299x299. We ask for
  torch-fidelity's TensorFlow-1.x-compatible bilinear resize (``antialias=False``), the one
  the reference TF FID uses, rather than torchmetrics' antialiased default, so figures are
  comparable with the usual FID.
- **torchvision**: neither pytorch-fid, clean-fid nor torch-fidelity imports without
  torchvision (torch-fidelity's package ``__init__`` imports its CLIP and dataset modules,
  which need it), and torchmetrics' FID needs torch-fidelity. There is no CPU torchvision
  build here, so when ``import torch_fidelity`` fails for want of torchvision we load
  torch-fidelity's Inception module files alone (they need only torch), the way avprep's
  FAN backend loads face-alignment's network file: the package's ``__init__`` is skipped,
  nothing else changes. With torchvision installed the package imports normally.
- :func:`frechet_distance` scores features the caller already has (trainers' validation, or
  another feature extractor) with the same torchmetrics arithmetic and needs no weights.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.eval.weights import find_weights_file

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_ENV = "AVPREP_INCEPTION"
FEATURES = 2048


def prepare_torch_fidelity(required: bool = False) -> bool:
    """Make ``torch_fidelity``'s Inception importable (see module doc); True when it is.

    Must run before torchmetrics is imported: torchmetrics imports torch-fidelity whenever
    it is installed, and would fail on torchvision otherwise.
    """
    if "torch_fidelity" in sys.modules:
        return True
    spec = importlib.util.find_spec("torch_fidelity")
    if spec is None or not spec.submodule_search_locations:
        if required:
            raise ModuleNotFoundError(
                "FID needs torch-fidelity's Inception network: pip install 'avprep[fid]' "
                "(or, without torchvision, pip install --no-deps 'torch-fidelity>=0.3,<0.5')"
            )
        return False
    try:
        import torch_fidelity  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name != "torchvision":
            raise
        for name in [m for m in sys.modules if m.startswith("torch_fidelity")]:
            del sys.modules[name]  # the half-imported package
        package = types.ModuleType("torch_fidelity")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["torch_fidelity"] = package
        import torch_fidelity.feature_extractor_inceptionv3  # noqa: F401  (torch only)
    return True


def _fid_metric_class() -> Any:
    prepare_torch_fidelity()
    from torchmetrics.image.fid import FrechetInceptionDistance

    return FrechetInceptionDistance


class _GivenFeatures(nn.Module):
    """Hands torchmetrics the caller's features unchanged."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def frechet_distance(real_features: Any, fake_features: Any) -> float:
    """Frechet distance of two (N, D) feature sets (N >= 2 each), by torchmetrics."""
    real = torch.as_tensor(np.asarray(real_features), dtype=torch.float64)
    fake = torch.as_tensor(np.asarray(fake_features), dtype=torch.float64)
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"need (N, D) features of one D, got {real.shape}, {fake.shape}")
    if len(real) < 2 or len(fake) < 2:
        raise ValueError("FID needs at least two samples on each side")
    metric = _fid_metric_class()(feature=_GivenFeatures(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def find_inception_weights(explicit: str | None = None) -> Path:
    return find_weights_file(
        explicit,
        INCEPTION_ENV,
        INCEPTION_FILE,
        (
            f"FID needs torch-fidelity's Inception weights {INCEPTION_FILE} (from the "
            f"torch-fidelity v0.2.0 release); avprep never downloads them. Pass the path "
            f"(--inception-weights) or set ${INCEPTION_ENV}."
        ),
        "Inception",
    )


class FrameFid:
    """Streaming FID over uint8 RGB frames: ``update(frames, real=...)`` then ``compute()``.

    Memory stays bounded (2048 sums and a 2048x2048 matrix per side), so whole test sets
    stream through in batches.
    """

    def __init__(
        self,
        weights: str | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> None:
        path = find_inception_weights(weights)
        prepare_torch_fidelity(required=True)
        try:  # torch-fidelity unpickles the file in full; accept plain tensors only
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets one clear message
            raise ValueError(f"{path} is not a plain state dict like {INCEPTION_FILE}: {e}") from e
        cls = _fid_metric_class()
        try:
            self.metric = cls(
                feature=FEATURES,
                feature_extractor_weights_path=str(path),
                antialias=False,
            )
        except RuntimeError as e:  # load_state_dict: wrong file
            raise ValueError(f"{path} is not {INCEPTION_FILE}: {e}") from e
        self.metric = self.metric.to(device)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.weights = str(path)

    def update(self, frames: np.ndarray, real: bool) -> None:
        """(N, H, W, 3) uint8 RGB frames of one side."""
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"need RGB uint8 (N, H, W, 3) frames, got {frames.dtype} {frames.shape}"
            )
        for s in range(0, len(frames), self.batch_size):
            x = torch.from_numpy(frames[s : s + self.batch_size]).permute(0, 3, 1, 2)
            self.metric.update(x.to(self.device), real=real)

    def compute(self) -> float:
        return float(self.metric.compute())


def fid_of_clips(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    weights: str | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """FID of all generated frames against all real frames of (real, generated) clips."""
    fid = FrameFid(weights, device)
    n_real = n_fake = clips = 0
    for real, fake in pairs:
        fid.update(real, real=True)
        fid.update(fake, real=False)
        n_real, n_fake, clips = n_real + len(real), n_fake + len(fake), clips + 1
    if n_real < 2 or n_fake < 2:
        raise ValueError("FID needs at least two frames on each side")
    return {"fid": fid.compute(), "real_frames": n_real, "fake_frames": n_fake, "clips": clips}
