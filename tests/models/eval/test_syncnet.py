"""SyncNet LSE-C/LSE-D: loading the public layout, input conventions, and the arithmetic of
syncnet_python's calc_pdist / evaluate written out independently here."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.eval import syncnet as sn  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Random SyncNet weights saved as the public syncnet_v2.model is: a state dict of S,
    without num_batches_tracked (the file predates it)."""
    torch.manual_seed(0)
    net = sn.SyncNet()
    for m in net.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(state, path)
    return path, state


def test_public_parameter_names():
    names = set(sn.SyncNet().state_dict())
    for key in (
        "netcnnaud.0.weight",
        "netcnnaud.1.running_var",
        "netcnnaud.18.weight",
        "netfcaud.3.bias",
        "netfclip.0.weight",
        "netcnnlip.0.weight",
        "netcnnlip.19.weight",
    ):
        assert key in names
    n_params = sum(p.numel() for p in sn.SyncNet().parameters())
    assert 13_000_000 < n_params < 14_000_000


def test_loads_the_public_layout(weights):
    path, state = weights
    net = sn.load_syncnet(str(path))
    assert not net.training
    for k, v in state.items():
        assert torch.equal(net.state_dict()[k], v)


def test_missing_or_wrong_weights_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv(sn.SYNCNET_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="syncnet_v2.model"):
        sn.load_syncnet(None)
    with pytest.raises(FileNotFoundError, match="not found at"):
        sn.load_syncnet(str(tmp_path / "nope.model"))
    bad = tmp_path / "bad.model"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="not SyncNet v2"):
        sn.load_syncnet(str(bad))
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        sn.load_syncnet(str(junk))


def test_env_var_names_the_weights(weights, monkeypatch):
    monkeypatch.setenv(sn.SYNCNET_ENV, str(weights[0]))
    assert sn.find_syncnet_weights() == weights[0]


def test_video_input_is_bgr_224_unnormalised():
    frames = np.zeros((6, 100, 80, 3), np.uint8)
    frames[..., 0] = 200  # red in RGB
    v = sn.video_input(frames)
    assert v.shape == (1, 3, 6, 224, 224) and v.dtype == torch.float32
    assert float(v[0, 2].mean()) == 200.0 and float(v[0, 0].abs().max()) == 0.0


def test_audio_input_is_python_speech_features_on_int16():
    import python_speech_features

    rng = np.random.default_rng(0)
    pcm = (rng.normal(0, 3000, 16000)).astype(np.int16)
    ref = python_speech_features.mfcc(pcm, 16000)  # what SyncNetInstance does
    got = sn.audio_input(pcm.astype(np.float32) / 32768.0)
    assert got.shape == (1, 1, 13, ref.shape[0])
    np.testing.assert_allclose(got[0, 0].numpy(), ref.T, rtol=1e-4, atol=1e-3)


def _calc_pdist_reference(feat1, feat2, vshift):
    """syncnet_python's calc_pdist written out: one row at a time."""
    win = vshift * 2 + 1
    feat2p = torch.nn.functional.pad(feat2, (0, 0, vshift, vshift))
    return [
        torch.nn.functional.pairwise_distance(feat1[[i], :].repeat(win, 1), feat2p[i : i + win])
        for i in range(len(feat1))
    ]


def test_offset_arithmetic_by_hand():
    v = torch.tensor([[0.0], [1.0], [2.0]])
    a = torch.tensor([[0.0], [1.0], [2.0]])
    d = sn.offset_distances(v, a, vshift=1)
    # padded audio 0,0,1,2,0: rows |v_i - a_{i+k-1}|
    expected = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 2.0]])
    torch.testing.assert_close(d, expected, atol=1e-5, rtol=0)
    s = sn.sync_scores(d, vshift=1)
    # mean over frames [2/3, 0, 4/3]: min 0 at offset 0, median 2/3
    assert s["lse_d"] == pytest.approx(0.0, abs=1e-5)
    assert s["lse_c"] == pytest.approx(2 / 3, abs=1e-5)
    assert s["offset"] == 0


def test_offset_arithmetic_matches_the_reference_loop():
    g = torch.Generator().manual_seed(1)
    video = torch.randn(40, 16, generator=g)
    audio = torch.roll(video, 3, dims=0) + 0.05 * torch.randn(40, 16, generator=g)
    d = sn.offset_distances(video, audio, vshift=15)
    ref = _calc_pdist_reference(video, audio, 15)
    torch.testing.assert_close(d, torch.stack(ref, 0))
    mdist = torch.mean(torch.stack(ref, 1), 1)
    minval, minidx = torch.min(mdist, 0)
    s = sn.sync_scores(d, vshift=15)
    assert s["offset"] == 15 - int(minidx) == -3  # audio lags: video i matches audio i+3
    assert s["lse_d"] == pytest.approx(float(minval))
    assert s["lse_c"] == pytest.approx(float(torch.median(mdist) - minval))


def test_windows_follow_syncnet_instance(weights):
    net = sn.load_syncnet(str(weights[0]))
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 255, (9, 64, 64, 3), dtype=np.uint8)
    audio = rng.normal(0, 0.1, 8 * 640 + 100).astype(np.float32)  # 8 frames of audio
    video, mfcc = sn.video_input(frames), sn.audio_input(audio)
    vf, af = sn.embed(net, video, mfcc, len(audio), batch_size=2)
    n = min(9, math.floor(len(audio) / 640)) - 5  # lastframe
    assert vf.shape == af.shape == (n, 1024)
    with torch.no_grad():
        torch.testing.assert_close(vf[2], net.forward_lip(video[:, :, 2:7])[0])
        torch.testing.assert_close(af[2], net.forward_aud(mfcc[:, :, :, 8:28])[0])
    out = sn.lse_scores(net, frames, audio, vshift=15)
    assert set(out) == {"lse_c", "lse_d", "offset"} and out["lse_c"] >= 0
    agg = sn.lse_over_videos([out, {"lse_c": 1.0, "lse_d": 2.0}])
    assert agg["lse_c"] == pytest.approx((out["lse_c"] + 1) / 2) and agg["videos"] == 2
    with pytest.raises(ValueError, match="at least 6 frames"):
        sn.lse_scores(net, frames[:5], audio)


def test_face_track_crop_geometry():
    h, w = 360, 320
    yy, xx = np.mgrid[0:h, 0:w]
    frame = np.stack([yy % 256, xx % 256, (yy + xx) % 256], -1).astype(np.uint8)
    frames = np.stack([frame] * 3)
    boxes = np.array([[100.0, 100.0, 200.0, 200.0]] * 3)
    crops = sn.face_track_crops(frames, boxes)
    # half-size 50, centre (150, 150), crop scale 0.4: rows 100..240, columns 80..220
    np.testing.assert_array_equal(
        crops[1], __import__("cv2").resize(frame[100:240, 80:220], (224, 224))
    )
    # a box near the border is padded with grey 110
    edge = sn.face_track_crops(frames, np.array([[0.0, 0.0, 60.0, 60.0]] * 3))
    assert (edge[0, :5, :5] == 110).all()


@pytest.mark.gpu
def test_lse_on_cuda_matches_cpu(weights):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 255, (12, 96, 96, 3), dtype=np.uint8)
    audio = rng.normal(0, 0.1, 12 * 640).astype(np.float32)
    cpu = sn.lse_scores(sn.load_syncnet(str(weights[0]), "cpu"), frames, audio)
    gpu = sn.lse_scores(sn.load_syncnet(str(weights[0]), "cuda"), frames, audio)
    assert gpu["offset"] == cpu["offset"]
    assert gpu["lse_d"] == pytest.approx(cpu["lse_d"], rel=1e-3)
    assert gpu["lse_c"] == pytest.approx(cpu["lse_c"], abs=1e-3 * max(1.0, cpu["lse_d"]))
