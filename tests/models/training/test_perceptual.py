"""VGG-Face (models.training.perceptual, shared by CRAN and DVAE) loading from a weights file
the test makes in the public conversion's layout (``vgg_face_dag.pth``: conv1_1.weight ...
with VGG-16 shapes), features checked against an independent forward written here, the
resize to ``input_size``, the run's weights record, and the clear errors without the file."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from models.training.perceptual import (
    VGG_FACE_MEAN_RGB,
    VggFaceWeightsError,
    load_vgg_face,
    perceptual_loss,
)

# VGG-16 convolutions of blocks 1-3 (name, in, out), as in vgg_face_dag.pth
CONVS = [
    ("conv1_1", 3, 64), ("conv1_2", 64, 64),
    ("conv2_1", 64, 128), ("conv2_2", 128, 128),
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256),
]  # fmt: skip
LAYERS = ("relu1_2", "relu2_2", "relu3_3")


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    g = torch.Generator().manual_seed(0)
    state = {}
    for name, cin, cout in CONVS:
        state[f"{name}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        state[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.01
    state["fc8.weight"] = torch.randn(2622, 8, generator=g)  # an unused extra, ignored
    path = tmp_path_factory.mktemp("vggface") / "vgg_face_dag.pth"
    torch.save(state, path)
    return path, state


def reference_features(state, x):
    """Plain VGG-16 forward: [-1,1] RGB -> 0..255 minus the VGG-Face mean, conv3x3+ReLU,
    2x2 max-pool after each block's last convolution."""
    h = (x + 1) * 127.5 - torch.tensor(VGG_FACE_MEAN_RGB).view(1, 3, 1, 1)
    feats = []
    for name, _, _ in CONVS:
        h = F.relu(F.conv2d(h, state[f"{name}.weight"], state[f"{name}.bias"], padding=1))
        if name in ("conv1_2", "conv2_2", "conv3_3"):
            feats.append(h)
            h = F.max_pool2d(h, 2)
    return feats


def test_loads_public_layout_and_matches_reference(weights_file):
    path, state = weights_file
    vgg = load_vgg_face(path, LAYERS)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        ours = vgg(x)
    ref = reference_features(state, x)
    assert [tuple(f.shape) for f in ours] == [(2, 64, 32, 32), (2, 128, 16, 16), (2, 256, 8, 8)]
    for a, b in zip(ours, ref, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-3)
    assert not any(p.requires_grad for p in vgg.parameters())
    assert not vgg.train().training  # stays frozen in eval mode


def test_perceptual_loss_hand_check(weights_file):
    path, state = weights_file
    vgg = load_vgg_face(path, LAYERS)
    a, b = torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1
    expected = sum(
        (fa - fb).abs().mean()
        for fa, fb in zip(reference_features(state, a), reference_features(state, b), strict=True)
    )
    a.requires_grad_(True)
    loss = perceptual_loss(vgg, a, b)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    loss.backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    assert perceptual_loss(vgg, b, b).item() == 0.0


def test_missing_file_names_it(tmp_path):
    with pytest.raises(VggFaceWeightsError, match="vgg_face_dag.pth"):
        load_vgg_face(None)
    missing = tmp_path / "nowhere" / "vgg_face_dag.pth"
    with pytest.raises(VggFaceWeightsError, match="nowhere"):
        load_vgg_face(missing)


def test_wrong_layout_is_refused(tmp_path, weights_file):
    _, state = weights_file
    partial = {k: v for k, v in state.items() if not k.startswith("conv3")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(VggFaceWeightsError, match="conv3_1.weight"):
        load_vgg_face(tmp_path / "partial.pth", LAYERS)
    bad = dict(state, **{"conv1_1.weight": torch.zeros(64, 1, 3, 3)})
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(VggFaceWeightsError, match="shape"):
        load_vgg_face(tmp_path / "bad.pth", LAYERS)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(VggFaceWeightsError, match="cannot read"):
        load_vgg_face(tmp_path / "junk.pth", LAYERS)


def test_input_size_resizes_before_the_mean(weights_file):
    path, state = weights_file
    vgg = load_vgg_face(path, LAYERS, input_size=24)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        ours = vgg(x)
    resized = F.interpolate(x, size=(24, 24), mode="bilinear", align_corners=False, antialias=True)
    assert [tuple(f.shape) for f in ours] == [(2, 64, 24, 24), (2, 128, 12, 12), (2, 256, 6, 6)]
    for a, b in zip(ours, reference_features(state, resized), strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="input_size"):
        load_vgg_face(path, LAYERS, input_size=0)


def test_weights_record_and_resume_check(tmp_path, weights_file):
    import hashlib

    from models.training.perceptual import check_same_weights, weights_record

    path, _ = weights_file
    rec = weights_record(path)
    assert rec == {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    check_same_weights(rec, dict(rec, path="elsewhere/vgg_face_dag.pth"))  # same bytes: fine
    check_same_weights(None, None)
    (tmp_path / "other.pth").write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="same weights file"):
        check_same_weights(rec, weights_record(tmp_path / "other.pth"))
    with pytest.raises(ValueError, match="same weights file"):
        check_same_weights(rec, None)
    with pytest.raises(ValueError, match="without the perceptual loss"):
        check_same_weights(None, rec)
