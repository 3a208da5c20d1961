"""Model lookup, the FAN backend up to its boundary, crop codecs, tracking helpers."""

import numpy as np
import pytest

from avprep.face import FaceConfig, FaceStage
from avprep.face.crop_codec import decode_stream, encode_streams
from avprep.face.fan import (
    FanLandmarker,
    box_center_scale,
    crop_transform,
    decode_heatmaps,
    resolve_device,
)
from avprep.face.known_motion import moving_astronaut
from avprep.face.model_files import (
    DLIB_ENV,
    ModelFileMissing,
    find_dlib_landmark_model,
    find_fan_weights,
    torch_hub_checkpoints,
)
from avprep.face.tracking import INTERPOLATED, MISSING, TRACKED, fill_gaps, smooth_runs


def test_dlib_model_found_in_package_and_overrides(tmp_path, monkeypatch):
    monkeypatch.delenv(DLIB_ENV, raising=False)
    p = find_dlib_landmark_model()
    assert p.name == "shape_predictor_68_face_landmarks.dat" and p.stat().st_size > 90e6
    monkeypatch.setenv(DLIB_ENV, str(p))
    assert find_dlib_landmark_model() == p
    monkeypatch.setenv(DLIB_ENV, str(tmp_path / "nope.dat"))
    with pytest.raises(ModelFileMissing, match="AVPREP_DLIB_LANDMARKS"):
        find_dlib_landmark_model()
    with pytest.raises(ModelFileMissing, match="given path"):
        find_dlib_landmark_model(str(tmp_path / "x.dat"))


def test_fan_missing_weights_fails_fast_naming_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert torch_hub_checkpoints() == tmp_path / "hub" / "checkpoints"
    with pytest.raises(ModelFileMissing) as e:
        find_fan_weights()
    msg = str(e.value)
    assert "2DFAN4" in msg and ".pth.tar" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    assert "never downloads" in msg and "--face-backend dlib" in msg
    with pytest.raises(ModelFileMissing):
        FaceStage(FaceConfig(backend="fan")).setup()
    assert not (tmp_path / "hub").exists()  # nothing created, nothing fetched


def test_fan_weights_found_when_present(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(ModelFileMissing) as e:
        find_fan_weights()
    name = str(e.value).split()[2]
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    (tmp_path / "hub" / "checkpoints" / name).write_bytes(b"x")
    assert find_fan_weights().name == name


def test_fan_device_resolution():
    torch = pytest.importorskip("torch")
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(ValueError):
        resolve_device("tpu")


def test_fan_heatmap_decoding_hand_worked():
    hm = np.zeros((1, 68, 64, 64), np.float32)
    hm[0, :, 20, 10] = 1.0  # peak at column 10, row 20
    hm[0, :, 20, 11] = 0.5  # right neighbour larger than left: +0.25 in x
    hm[0, :, 19, 10] = 0.3  # upper neighbour larger than lower: -0.25 in y
    pts = decode_heatmaps(hm)
    np.testing.assert_allclose(pts[0, 0], [10 + 0.25 + 0.5, 20 - 0.25 + 0.5])


def test_fan_backend_pipeline_with_injected_network():
    """Batching, cropping and the map back to frame pixels, with a network whose output
    we know: Gaussian heatmaps at fixed crop positions."""
    torch = pytest.importorskip("torch")
    targets = np.stack([np.linspace(8, 56, 68), np.linspace(50, 14, 68)], 1)  # heatmap px

    class Peaks(torch.nn.Module):
        def forward(self, x):
            yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
            t = torch.tensor(targets, dtype=torch.float32) - 0.5
            g = torch.exp(-((xx - t[:, 0, None, None]) ** 2 + (yy - t[:, 1, None, None]) ** 2) / 2)
            return [g[None].repeat(x.shape[0], 1, 1, 1)]

    frames = np.zeros((3, 240, 320, 3), np.uint8)
    boxes = np.array([[100, 60, 180, 140], [10, 10, 110, 110], [200, 100, 300, 230]], float)
    fan = FanLandmarker(device="cpu", batch_size=2, net=Peaks())
    out = fan.landmarks(frames, boxes, np.array([0, 1, 2]))
    centers, scales = box_center_scale(boxes)
    for i in range(3):
        a = crop_transform(centers[i], scales[i], 64)  # frame -> heatmap pixels
        back = (out[i] - 0) @ a[:, :2].T + a[:, 2]
        np.testing.assert_allclose(back, targets, atol=0.3)
    assert fan.versions()["fan_device"] == "cpu"


def _fan_weights_present() -> bool:
    try:
        find_fan_weights()
    except ModelFileMissing:
        return False
    return True


@pytest.mark.skipif(
    not _fan_weights_present(),
    reason="FAN weights not on this machine (needs $TORCH_HOME/hub/checkpoints/2DFAN4-*.pth.tar)",
)
def test_fan_stage_on_moving_astronaut_when_weights_present():
    pytest.importorskip("torch")
    from avprep.face.known_motion import make_work

    frames, _ = moving_astronaut(20)
    w = make_work(frames)
    FaceStage(FaceConfig(backend="fan")).process(w)
    assert w.arrays["face_ok"].all() and w.meta["face"]["face_backend"] == "fan"


@pytest.mark.parametrize("fmt", ["jpg", "mp4"])
def test_crop_codec_round_trip(fmt):
    frames, _ = moving_astronaut(6, size=(96, 96))
    files = encode_streams({"mouth": frames}, fmt, 95, 18)
    back = decode_stream(files, "mouth")
    assert back.shape == frames.shape
    assert np.abs(back.astype(float) - frames).mean() < 4.0


def test_gap_fill_and_smoothing_without_lag():
    t = np.arange(20, dtype=float)
    lm = np.zeros((20, 68, 2))
    lm[..., 0] = (3 + 0.5 * t + 0.1 * t**2)[:, None]  # accelerating motion
    state = np.full(20, TRACKED, np.uint8)
    state[5:8] = MISSING
    state[12:19] = MISSING
    truth = lm.copy()
    lm[5:8] = lm[12:19] = np.nan
    fill_gaps(lm, state, max_gap=5)
    assert (state[5:8] == INTERPOLATED).all() and (state[12:19] == MISSING).all()
    valid = state != MISSING
    sm = smooth_runs(np.where(valid[:, None, None], truth, 0.0), valid, 5)
    np.testing.assert_allclose(sm[valid], truth[valid], atol=1e-9)  # quadratic: no lag at all
