"""FID: the Frechet arithmetic against hand-computed values and scipy's matrix square root;
the Inception path with random weights saved in torch-fidelity's public layout."""

import importlib.util

import numpy as np
import pytest
import scipy.linalg

torch = pytest.importorskip("torch")
if importlib.util.find_spec("torchmetrics") is None:  # not imported here: see fid.py
    pytest.skip("torchmetrics not installed", allow_module_level=True)

from models.eval import fid as fidmod  # noqa: E402


def test_frechet_distance_by_hand():
    # real 0, 2: mean 1, variance 2 (N-1); generated 1, 5: mean 3, variance 8
    # (1-3)^2 + 2 + 8 - 2 sqrt(2*8) = 6
    assert fidmod.frechet_distance([[0.0], [2.0]], [[1.0], [5.0]]) == pytest.approx(6.0)
    x = np.random.default_rng(0).normal(size=(10, 3))
    assert fidmod.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(200, 8))
    fake = rng.normal(size=(150, 8)) @ rng.normal(size=(8, 8)) * 0.5 + 0.3
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert fidmod.frechet_distance(real, fake) == pytest.approx(ref, rel=1e-6)


def test_bad_features_are_refused():
    with pytest.raises(ValueError, match="at least two"):
        fidmod.frechet_distance([[1.0, 2.0]], [[1.0, 2.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="one D"):
        fidmod.frechet_distance(np.zeros((3, 2)), np.zeros((3, 4)))


def test_missing_weights_name_the_file(monkeypatch):
    monkeypatch.delenv(fidmod.INCEPTION_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=fidmod.INCEPTION_FILE):
        fidmod.FrameFid(None)


needs_fidelity = pytest.mark.skipif(
    importlib.util.find_spec("torch_fidelity") is None, reason="torch-fidelity not installed"
)


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """Random weights in the layout of torch-fidelity's weights-inception-2015-12-05 file:
    the state dict of FeatureExtractorInceptionV3 (built here without loading any file)."""
    fidmod.prepare_torch_fidelity(required=True)
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    folder = tmp_path_factory.mktemp("inception")
    empty = folder / "empty.pth"
    torch.save({}, empty)
    orig = FeatureExtractorInceptionV3.load_state_dict
    FeatureExtractorInceptionV3.load_state_dict = lambda self, sd, *a, **k: None
    try:
        torch.manual_seed(0)
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], str(empty))
    finally:
        FeatureExtractorInceptionV3.load_state_dict = orig
    for m in net.modules():  # variance-preserving init, so random features do not vanish
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    state = net.state_dict()
    assert "Mixed_7c.branch_pool.conv.weight" in state and state["fc.weight"].shape[0] == 1008
    path = folder / fidmod.INCEPTION_FILE
    torch.save(state, path)
    return path


@needs_fidelity
def test_inception_fid_plumbing(inception_weights, tmp_path):
    rng = np.random.default_rng(2)
    real = rng.integers(0, 255, (2, 48, 48, 3), dtype=np.uint8)
    fake = (real // 4).astype(np.uint8)
    out = fidmod.fid_of_clips([(real, fake)], weights=str(inception_weights))
    assert out["fid"] > 1e-2 and out["real_frames"] == out["fake_frames"] == 2
    fid = fidmod.FrameFid(str(inception_weights), batch_size=1)
    with pytest.raises(ValueError, match="uint8"):
        fid.update(real.astype(np.float32), real=True)
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ValueError, match=fidmod.INCEPTION_FILE):
        fidmod.FrameFid(str(wrong))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a plain state dict"):
        fidmod.FrameFid(str(junk))
