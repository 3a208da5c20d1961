"""PSNR/SSIM: the per-frame definition is scikit-image's; the torch path must agree with it,
and the clip/set averaging must be frames-then-clips."""

import numpy as np
import pytest
import skimage.data
from skimage.metrics import structural_similarity

from models.eval.image_quality import (
    clip_psnr_ssim,
    frame_psnr_ssim,
    psnr_ssim_clips,
)


def _noisy(rng, img, sigma):
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


def test_psnr_is_hand_computed_value():
    real = np.zeros((16, 16, 3), np.uint8)
    fake = real.copy()
    fake[0, 0, 0] = 16  # MSE = 256 / 768
    psnr, _ = frame_psnr_ssim(real, fake)
    assert psnr == pytest.approx(10 * np.log10(255**2 / (256 / 768)))
    assert frame_psnr_ssim(real, real)[0] == float("inf")


def test_ssim_uses_the_gaussian_11x11_window_of_wang_2004():
    rng = np.random.default_rng(0)
    real = skimage.data.astronaut()[100:200, 150:250]
    fake = _noisy(rng, real, 20)
    _, ssim = frame_psnr_ssim(real, fake)
    # the uniform 7x7 default of scikit-image gives a different value: the window matters
    uniform = structural_similarity(real, fake, data_range=255, channel_axis=-1)
    assert abs(ssim - uniform) > 1e-3
    # Wang et al.'s window written out: 11x11 Gaussian, sigma 1.5, population covariances,
    # mean over the positions where the window fits inside the frame
    from scipy.signal import convolve2d

    r = np.arange(-5, 6)
    g = np.exp(-0.5 * (r / 1.5) ** 2)
    w = np.outer(g, g) / np.outer(g, g).sum()
    vals = []
    for ch in range(3):
        x, y = real[..., ch].astype(float), fake[..., ch].astype(float)
        mx, my = convolve2d(x, w, "valid"), convolve2d(y, w, "valid")
        sxx = convolve2d(x * x, w, "valid") - mx**2
        syy = convolve2d(y * y, w, "valid") - my**2
        sxy = convolve2d(x * y, w, "valid") - mx * my
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        s = (2 * mx * my + c1) * (2 * sxy + c2) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
        vals.append(s.mean())
    assert ssim == pytest.approx(np.mean(vals), abs=1e-9)


def test_average_over_frames_then_clips():
    rng = np.random.default_rng(1)
    base = skimage.data.astronaut()[:64, :64]
    clip_a = np.stack([base] * 3)
    fake_a = np.stack([_noisy(rng, base, s) for s in (5, 10, 15)])
    clip_b = np.stack([base])
    fake_b = np.stack([_noisy(rng, base, 30)])
    a = clip_psnr_ssim(clip_a, fake_a)
    per_frame_a = [frame_psnr_ssim(r, f) for r, f in zip(clip_a, fake_a, strict=True)]
    assert a["psnr"] == pytest.approx(np.mean([p for p, _ in per_frame_a]))
    b = clip_psnr_ssim(clip_b, fake_b)
    both = psnr_ssim_clips([(clip_a, fake_a), (clip_b, fake_b)])
    assert both["clips"] == 2
    assert both["psnr"] == pytest.approx((a["psnr"] + b["psnr"]) / 2)
    assert both["ssim"] == pytest.approx((a["ssim"] + b["ssim"]) / 2)


def test_mismatched_or_float_frames_are_refused():
    a = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        clip_psnr_ssim(a, a[:, :8])
    with pytest.raises(ValueError, match="uint8"):
        clip_psnr_ssim(a, a.astype(np.float32))


def test_torch_batch_agrees_with_scikit_image():
    torch = pytest.importorskip("torch")
    from models.eval.image_quality import psnr_ssim_torch

    rng = np.random.default_rng(2)
    real = np.stack([skimage.data.astronaut()[i * 40 : i * 40 + 48, 100:160] for i in range(3)])
    fake = np.stack([_noisy(rng, r, 12) for r in real])
    psnr, ssim = psnr_ssim_torch(
        torch.from_numpy(real).permute(0, 3, 1, 2), torch.from_numpy(fake).permute(0, 3, 1, 2)
    )
    for i in range(3):
        p, s = frame_psnr_ssim(real[i], fake[i])
        assert float(psnr[i]) == pytest.approx(p, abs=1e-9)
        assert float(ssim[i]) == pytest.approx(s, abs=1e-6)


@pytest.mark.gpu
def test_torch_batch_on_cuda_agrees_with_scikit_image():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from models.eval.image_quality import psnr_ssim_torch

    rng = np.random.default_rng(3)
    real = skimage.data.astronaut()[None, :128, :128]
    fake = _noisy(rng, real, 12)
    psnr, ssim = psnr_ssim_torch(
        torch.from_numpy(real).permute(0, 3, 1, 2).cuda(),
        torch.from_numpy(fake).permute(0, 3, 1, 2).cuda(),
    )
    p, s = frame_psnr_ssim(real[0], fake[0])
    assert float(psnr[0]) == pytest.approx(p, abs=1e-3)
    assert float(ssim[0]) == pytest.approx(s, abs=1e-4)


def test_generator_output_scored_as_saved_frames():
    torch = pytest.importorskip("torch")
    from models.eval.image_quality import batch_psnr_ssim, generator_to_uint8

    rng = np.random.default_rng(4)
    real = skimage.data.astronaut()[None, :64, :64]
    fake = _noisy(rng, real, 10)
    as_generator = torch.from_numpy(fake).permute(0, 3, 1, 2).double() / 127.5 - 1
    scores = batch_psnr_ssim(
        torch.from_numpy(real).permute(0, 3, 1, 2), generator_to_uint8(as_generator)
    )
    p, s = frame_psnr_ssim(real[0], fake[0])
    assert scores["psnr"] == pytest.approx(p) and scores["ssim"] == pytest.approx(s, abs=1e-6)
