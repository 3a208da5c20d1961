"""The torch features (models/audio_features.py) equal the numpy path within the stated
tolerance, batched, on CPU and (when there is one) on a CUDA device."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is the optional 'train' extra")

from avprep.features.config import FEATURE_CONFIGS  # noqa: E402
from avprep.features.noise import add_white_noise  # noqa: E402
from avprep.features.tracks import compute_track  # noqa: E402
from models.audio_features import AudioFeatureExtractor, extract_features  # noqa: E402

NAMES = ["mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"]


def check_close(name: str, ours: np.ndarray, ref: np.ndarray, float64: bool = False) -> None:
    """The tolerances stated in models/audio_features.py."""
    assert ours.shape == ref.shape
    diff = np.abs(ours.astype(np.float64) - ref)
    if float64:
        assert diff.max() <= 1e-5, (name, diff.max())
    elif name.startswith("mfcc"):
        assert diff.max() <= 2e-3, (name, diff.max())
    else:
        # dB; bins > 100 dB below their frame's peak are float32 rounding noise
        near = ref >= ref.max(axis=1, keepdims=True) - 100.0
        assert np.quantile(diff[near], 0.999) <= 0.05, (name, np.quantile(diff[near], 0.999))
        assert diff[near].max() <= 1.0, (name, diff[near].max())


@pytest.mark.parametrize("name", NAMES)
def test_torch_equals_numpy_on_real_and_noisy_speech(name, speech_clips):
    cfg = FEATURE_CONFIGS[name]
    n = min(len(x) for x in speech_clips)
    clean = [x[:n] for x in speech_clips]
    batch = np.stack(clean + [add_white_noise(clean[0], -10, "k", 0)])
    module = AudioFeatureExtractor(cfg)
    out = module(torch.from_numpy(batch)).numpy()
    assert out.dtype == np.float32 and out.shape[0] == len(batch)
    for b, x in enumerate(batch):
        check_close(name, out[b], compute_track(x, cfg))
    out64 = AudioFeatureExtractor(name, dtype=torch.float64)(torch.from_numpy(batch)).numpy()
    for b, x in enumerate(batch):
        check_close(name, out64[b], compute_track(x, cfg), float64=True)


@pytest.mark.parametrize("name", NAMES)
def test_torch_silence_short_and_unbatched(name):
    cfg = FEATURE_CONFIGS[name]
    silent = np.zeros(8000, dtype=np.float32)
    out = extract_features(silent, name).numpy()
    assert out.ndim == 2 and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, compute_track(silent, cfg), atol=1e-4)
    short = torch.zeros(2, cfg.win_length - 1)
    assert tuple(AudioFeatureExtractor(cfg)(short).shape) == (2, 0, cfg.dim)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", NAMES)
def test_torch_on_cuda_equals_numpy(name, speech):
    cfg = FEATURE_CONFIGS[name]
    out = AudioFeatureExtractor(cfg, device="cuda")(torch.from_numpy(speech)[None].cuda())
    assert out.device.type == "cuda"
    check_close(name, out[0].cpu().numpy(), compute_track(speech, cfg))
