"""PSNR and SSIM of generated against real frames, per frame on uint8 crops.

Definitions (DAVS Table 1, DVAE Table 2 report these; neither states its implementation, so
we follow the standard one):

- **PSNR** ``10 log10(255^2 / MSE)`` over all pixels and channels of one frame
  (``skimage.metrics.peak_signal_noise_ratio`` with ``data_range=255``). Identical frames
  give ``inf``.
- **SSIM** as Wang et al. (2004): an 11x11 Gaussian window with sigma 1.5, ``K1=0.01``,
  ``K2=0.03``, population (not sample) covariances, the mean of the SSIM map over the
  positions where the window fits inside the frame; colour frames take the mean over the
  three channels (``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255, channel_axis=-1)``).
- A clip's score is the mean over its frames; a set's score is the mean over its clips.

:func:`frame_psnr_ssim` is scikit-image itself (the reference). :func:`psnr_ssim_torch` is the
same arithmetic batched in torch for validation during training (any device); it agrees with
scikit-image to 1e-6 in float64 (``tests/models/eval/test_image_quality.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # scikit-image's default: radius int(3.5 * 1.5 + 0.5) = 5 -> 11x11
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
SSIM_K1, SSIM_K2 = 0.01, 0.03
DATA_RANGE = 255.0


def _check_pair(real: np.ndarray, fake: np.ndarray) -> None:
    if real.shape != fake.shape:
        raise ValueError(f"real {real.shape} and generated {fake.shape} frames differ in shape")
    if real.dtype != np.uint8 or fake.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (got {real.dtype}, {fake.dtype})")


def frame_psnr_ssim(real: np.ndarray, fake: np.ndarray) -> tuple[float, float]:
    """PSNR (dB) and SSIM of one uint8 frame pair, (H, W) or (H, W, C), by scikit-image."""
    _check_pair(real, fake)
    if np.array_equal(real, fake):  # MSE 0: skimage would divide by zero (with a warning)
        psnr = float("inf")
    else:
        psnr = float(peak_signal_noise_ratio(real, fake, data_range=DATA_RANGE))
    ssim = float(
        structural_similarity(
            real,
            fake,
            gaussian_weights=True,
            sigma=SSIM_SIGMA,
            use_sample_covariance=False,
            data_range=DATA_RANGE,
            channel_axis=-1 if real.ndim == 3 else None,
        )
    )
    return psnr, ssim


def clip_psnr_ssim(real: np.ndarray, fake: np.ndarray) -> dict[str, Any]:
    """Mean PSNR and SSIM over the frames of a clip, (T, H, W[, C]) uint8 each."""
    _check_pair(real, fake)
    if len(real) == 0:
        raise ValueError("empty clip")
    scores = np.array([frame_psnr_ssim(r, f) for r, f in zip(real, fake, strict=True)])
    return {
        "psnr": float(scores[:, 0].mean()),
        "ssim": float(scores[:, 1].mean()),
        "frames": len(real),
    }


def mean_over_clips(per_clip: Iterable[dict[str, Any]], keys: tuple[str, ...]) -> dict[str, Any]:
    """Mean of each key over clips (each clip weighs the same), plus the clip count."""
    rows = list(per_clip)
    out: dict[str, Any] = {"clips": len(rows)}
    for k in keys:
        vals = np.array([r[k] for r in rows if r.get(k) is not None], dtype=np.float64)
        out[k] = float(vals.mean()) if len(vals) else float("nan")
    return out


def psnr_ssim_clips(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """PSNR and SSIM averaged over frames, then over clips, for (real, generated) clips."""
    return mean_over_clips((clip_psnr_ssim(r, f) for r, f in pairs), ("psnr", "ssim"))


def _gaussian_kernel1d(dtype: Any, device: Any) -> Any:
    import torch

    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return k / k.sum()


def psnr_ssim_torch(real: Any, fake: Any, dtype: Any = None) -> tuple[Any, Any]:
    """Per-frame PSNR and SSIM for a batch, as scikit-image computes them.

    ``real``, ``fake``: (N, C, H, W) tensors holding uint8 values (uint8 or float in 0..255;
    use ``(x.clamp(-1, 1) + 1) * 127.5`` then ``round()`` for a generator's [-1, 1] output
    to score what would be saved). Returns two (N,) tensors (PSNR in dB, SSIM) in ``dtype``
    (default float64 on CPU, float32 elsewhere). SSIM is the channel mean.
    """
    import torch
    import torch.nn.functional as F

    if real.shape != fake.shape or real.dim() != 4:
        raise ValueError(
            f"need two (N, C, H, W) batches of one shape, got {real.shape}, {fake.shape}"
        )
    if dtype is None:
        dtype = torch.float64 if real.device.type == "cpu" else torch.float32
    x = real.to(dtype)
    y = fake.to(dtype)
    n, c, h, w = x.shape
    mse = (x - y).pow(2).flatten(1).mean(1)
    psnr = 10 * torch.log10(DATA_RANGE**2 / mse)

    if min(h, w) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"frames of {h}x{w} are smaller than the 11x11 SSIM window")
    k = _gaussian_kernel1d(dtype, x.device)
    kx = k.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ky = k.view(1, 1, -1, 1).repeat(c, 1, 1, 1)

    def blur(t: Any) -> Any:  # "valid" positions only: the border scikit-image crops
        return F.conv2d(F.conv2d(t, kx, groups=c), ky, groups=c)

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return psnr, s.flatten(1).mean(1)


def generator_to_uint8(x: Any) -> Any:
    """A generator's [-1, 1] output as the uint8 values a saved frame would hold (float
    tensor 0..255, rounded), so validation scores what ``avprep eval`` would read back."""
    return ((x.detach().clamp(-1, 1) + 1) * 127.5).round()


def batch_psnr_ssim(real: Any, fake: Any) -> dict[str, float]:
    """Mean PSNR and SSIM over a batch of frames (N, C, H, W) holding 0..255 values: the
    validation scalars the trainers log (frames of one clip or of many, each weighs the
    same; identical frames give PSNR ``inf``)."""
    psnr, ssim = psnr_ssim_torch(real, fake)
    return {"psnr": float(psnr.mean()), "ssim": float(ssim.mean())}
