"""Full-size DAVS networks: shapes, parameter counts, official parameter names, strict loading
of a checkpoint in the official release layout; the mouth geometry at the official template."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

from models.davs.checkpoint import CheckpointError, load_modules
from models.davs.config import DavsTrainConfig
from models.davs.geometry import Box, discriminator_mouth_window, mouth_box
from models.davs.inference import load_generator
from models.davs.trainer import make_network

FULL = DavsTrainConfig()
OFFICIAL_TEMPLATE = np.array([[91.1, 114.4], [168.7, 114.4], [129.9, 188.1]])


def conv(cin, cout, k, bias=True):
    kh, kw = (k, k) if isinstance(k, int) else k
    return cin * cout * kh * kw + (cout if bias else 0)


def bn(c):
    return 2 * c


def linear(i, o):
    return i * o + o


def test_parameter_counts_by_hand():
    """Counts recomputed from the official layer lists for the smaller networks."""
    mfcc = (
        conv(1, 64, 3, False) + bn(64) + conv(64, 128, 3, False) + bn(128)
        + conv(128, 256, 3, False) + bn(256) + conv(256, 512, 2, False) + bn(512)
        + conv(1, 64, (3, 12), False) + bn(64) + conv(64, 256, (3, 1), False) + bn(256)
        + conv(256, 512, (3, 1), False) + linear(1024, 256)
    )  # fmt: skip
    assert _count("mfcc_encoder") == mfcc
    assert _count("model_fusion") == linear(12 * 256, 512) + linear(512, 500) + linear(512, 1)
    assert _count("discriminator_audio") == linear(256, 256) + linear(256, 1)
    assert _count("ID_lip_discriminator") == conv(64, 1, 3) + linear(1024, 128) + linear(
        20 * 128, 500
    )
    blocks = [(2, 512), (3, 512), (4, 256), (4, 256), (3, 128), (2, 64)]
    cin, dec = 512, conv(512, 512, 4) + bn(512)
    for i, (n, cout) in enumerate(blocks):
        cin = cin + 160 if i == 3 else cin
        for _ in range(n):
            dec += conv(cin, cout, 3) + bn(cout)
            cin = cout
    dec += conv(64, 32, 3) + bn(32) + conv(32, 3, 3)
    assert _count("Decoder") == dec


def _count(name):
    return sum(p.numel() for p in make_network(name, FULL).parameters())


def test_full_size_forward_shapes_and_counts():
    torch.manual_seed(0)
    counts = {
        "ID_encoder": 15619584, "Decoder": 22404547, "mfcc_encoder": 1603136,
        "lip_feature_encoder": 8414486, "netD_mul": 19019332,
    }  # fmt: skip
    nets = {n: make_network(n, FULL).eval() for n in counts}
    assert {n: sum(p.numel() for p in m.parameters()) for n, m in nets.items()} == counts
    with torch.no_grad():
        pid = nets["ID_encoder"](torch.rand(1, 3, 256, 256))
        assert [tuple(f.shape) for f in pid] == [
            (1, 256), (1, 256, 8, 8), (1, 320, 16, 16), (1, 160, 32, 32), (1, 64, 64, 64)
        ]  # fmt: skip
        frame = nets["Decoder"](pid, torch.rand(1, 256))
        assert (
            frame.shape == (1, 3, 256, 256) and 0 <= float(frame.min()) <= float(frame.max()) <= 1
        )
        assert nets["lip_feature_encoder"](torch.rand(1, 1, 3, 256, 256)).shape == (1, 1, 256)
        assert nets["mfcc_encoder"](torch.randn(1, 12, 20, 12)).shape == (1, 12, 256)
        patch, match = nets["netD_mul"](torch.rand(1, 18, 256, 256), torch.randn(1, 6, 20, 12))
        assert patch.shape == (1, 1, 30, 30) and match.shape == (1, 1)
        words = make_network("ID_lip_discriminator", FULL).eval()(pid[4].expand(20, -1, -1, -1))
        assert words.shape == (1, 500)


# a few official keys and shapes, written out from network/*.py (Python 2 names: block1
# is 'block' + str(01))
OFFICIAL_KEYS = {
    "ID_encoder": {
        "block1.conv01_a.weight": (32, 3, 7, 7),
        "block14.conv14_b_bn.running_var": (64,),
        "block42.conv42_a.weight": (256, 256, 5, 5),
    },
    "Decoder": {
        "deconv1_1_new.weight": (512, 512, 4, 4),
        "convblock4.conv4_0.weight": (256, 416, 3, 3),
        "convblock6.conv6_1_bn.bias": (64,),
        "conv7_2.weight": (32, 3, 3, 3),
    },
    "mfcc_encoder": {
        "model1.conv1.weight": (64, 1, 3, 3),
        "model1.bn5.running_mean": (512,),
        "model2.bn1.running_mean": (64,),
        "model2.conv1.weight": (64, 1, 3, 12),
        "fc.weight": (256, 1024),
    },
    "lip_feature_encoder": {
        "model.conv1.weight": (64, 3, 7, 7),
        "model.conv2.downsample.2.weight": (128, 64, 1, 1),
        "model.m0.b2_plus_1.conv3.weight": (64, 64, 3, 3),
        "model.l0.weight": (68, 256, 1, 1),
        "model.conv5.weight": (256, 256, 5, 5),
        "model.fc.weight": (256, 1024),
        "conv6.weight": (1, 68, 3, 3),
        "fc.weight": (256, 1024),
        "bn1.running_var": (68,),
    },
    "netD_mul": {
        "conv1.weight": (64, 18, 4, 4),
        "conv2_2.weight": (256, 128, 4, 4),
        "mfcc_conv1.weight": (64, 6, 3, 3),
        "conv9.weight": (512, 512, 7, 7),
        "fc.weight": (512, 768),
        "bn9.weight": (512,),
    },
    "ID_lip_discriminator": {"conv6.weight": (1, 64, 3, 3), "fc_2.weight": (500, 2560)},
    "model_fusion": {"fc_1.weight": (512, 3072), "dis.weight": (1, 512)},
    "discriminator_audio": {"fc1.weight": (256, 256)},
}


def _official_file(tmp_path, modules, legacy: bool):
    """A checkpoint as the official train.py saves it: DataParallel ``module.`` keys; with
    ``legacy`` like PyTorch 0.3 (no num_batches_tracked, no version metadata)."""
    ckpt = {"step": 101, "epoch": 101}
    for name, m in modules.items():
        sd = OrderedDict()
        for k, v in m.state_dict().items():
            if legacy and k.endswith("num_batches_tracked"):
                continue
            sd["module." + k] = v.clone()
        ckpt[name] = sd
    ckpt["optimizer_G"] = {"state": {}, "param_groups": [{"lr": 2e-4, "params": [0]}]}
    path = tmp_path / ("101_DAVS_checkpoint.pth.tar" if legacy else "modern.pth.tar")
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def source_networks():
    """Full-size networks with non-default statistics, so loading is visible."""
    torch.manual_seed(1)
    source = {n: make_network(n, FULL) for n in OFFICIAL_KEYS}
    for m in source.values():
        for b in m.buffers():
            if b.dtype.is_floating_point:
                b.uniform_(0.5, 1.5)
    return source


@pytest.mark.parametrize("legacy", [True, False])
def test_official_checkpoint_loads_strictly(tmp_path, legacy, source_networks):
    source = source_networks
    names = list(OFFICIAL_KEYS)
    for n, keys in OFFICIAL_KEYS.items():
        sd = source[n].state_dict()
        assert {k: tuple(sd[k].shape) for k in keys} == keys, n
    path = _official_file(tmp_path, source, legacy)

    gen = load_generator(path)
    assert set(gen) == {"ID_encoder", "Decoder", "mfcc_encoder", "lip_feature_encoder"}
    for name, m in gen.items():
        ref = source[name].state_dict()
        for k, v in m.state_dict().items():
            if not k.endswith("num_batches_tracked"):
                assert torch.equal(v, ref[k]), (name, k)

    if legacy:  # every other module too, from the same file
        torch.manual_seed(2)
        rest = {n: make_network(n, FULL) for n in names}
        assert sorted(load_modules(str(path), rest)) == sorted(names)
        assert torch.equal(rest["netD_mul"].conv9.weight, source["netD_mul"].conv9.weight)


def test_checkpoint_mismatch_names_the_module(tmp_path):
    small = DavsTrainConfig(width=1 / 16, image_size=64)
    modules = {n: make_network(n, small) for n in ("ID_encoder", "Decoder")}
    path = _official_file(tmp_path, modules, legacy=False)
    with pytest.raises(CheckpointError, match="lacks mfcc_encoder, lip_feature_encoder"):
        load_generator(path, width=1 / 16, image_size=64)
    with pytest.raises(CheckpointError, match="Decoder does not match"):
        load_modules(
            path, {"Decoder": make_network("Decoder", DavsTrainConfig(width=1 / 8, image_size=64))}
        )
    with pytest.raises(FileNotFoundError, match="101_DAVS_checkpoint"):
        load_generator(tmp_path / "missing.pth.tar")


def _use_template(monkeypatch, points_256):
    import avprep.face.templates as templates

    def template_points(name, size):
        assert name == "davs256"
        return (np.asarray(points_256) + 0.5) * size / 256 - 0.5

    monkeypatch.setattr(templates, "template_points", template_points)


def test_mouth_regions_follow_the_template(monkeypatch):
    _use_template(monkeypatch, OFFICIAL_TEMPLATE)
    assert mouth_box(256) == Box(top=170, bottom=234, left=64, right=192)  # official pixels
    w = discriminator_mouth_window(256)
    assert (w.top, w.left, w.size) == (19, 11, 9)  # official [19:28, 11:20]
    _use_template(monkeypatch, OFFICIAL_TEMPLATE + [0, 16])  # a lower mouth and eyes
    assert mouth_box(256) == Box(top=186, bottom=250, left=64, right=192)
    assert discriminator_mouth_window(256).top == 21
    small = discriminator_mouth_window(64)
    assert small.size == 3 and 0 <= small.top <= 7 - 3


def test_mouth_box_of_the_installed_template():
    from avprep.face.templates import template_points

    pts = template_points("davs256", 256)
    box = mouth_box(256)
    assert box.top < pts[2][1] < box.bottom and box.left < pts[2][0] < box.right
    # avprep's DAVS template is the official geometry: the official regions come out
    assert box == Box(top=170, bottom=234, left=64, right=192)
    w = discriminator_mouth_window(256)
    assert (w.top, w.left, w.size) == (19, 11, 9)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_full_size_joint_step_bf16_on_cuda():
    from models.davs.trainer import DavsJointTrainer
    from models.training.method import TrainContext
    from tests.models.davs import davs_fixtures

    torch.manual_seed(0)
    ctx = TrainContext(device=torch.device("cuda"), amp_dtype=torch.bfloat16, channels_last=True)
    trainer = DavsJointTrainer(DavsTrainConfig(batch_size=2), ctx)
    batch = davs_fixtures.clip_batch(b=2, size=256, classes=500)
    batch = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    before = trainer.modules["Decoder"].conv7_2.weight.detach().clone()
    scalars = trainer.train_step(batch, 0)
    assert all(np.isfinite(v) for v in scalars.values())
    assert not torch.equal(before, trainer.modules["Decoder"].conv7_2.weight)
    out = trainer.sample(batch)
    assert out.generated.shape == (2, 24, 256, 256, 3)
