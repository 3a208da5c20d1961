"""`avprep eval`: inputs paired by name, JSON + table, clear failures, no torch at --help."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data
from click.testing import CliRunner

from avprep.cli import main
from avprep.datasets.demo_media import write_talking_clip


def _write_frames(folder, frames):
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), f[:, :, ::-1])


@pytest.fixture
def crops(tmp_path):
    rng = np.random.default_rng(0)
    base = cv2.resize(skimage.data.astronaut()[20:260, 100:340], (128, 128))
    real = np.stack([base] * 3)
    fake = np.clip(real + rng.normal(0, 8, real.shape), 0, 255).astype(np.uint8)
    _write_frames(tmp_path / "real" / "spk1" / "clip_a", real)
    _write_frames(tmp_path / "gen" / "spk1" / "clip_a", fake)
    _write_frames(tmp_path / "real" / "clip_only_real", real[:1])
    return tmp_path, real, fake


def test_help_does_not_import_torch():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom avprep.cli import main\n"
        "r = CliRunner().invoke(main, ['eval', '--help'])\nassert r.exit_code == 0, r.output\n"
        "assert 'quality' in r.output and 'sync' in r.output\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_quality_pairs_by_name_and_writes_json(crops):
    from models.eval.image_quality import clip_psnr_ssim

    root, real, fake = crops
    out_json = root / "q.json"
    r = CliRunner().invoke(
        main,
        [
            "eval",
            "quality",
            str(root / "real"),
            str(root / "gen"),
            "--json",
            str(out_json),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(out_json.read_text())
    expected = clip_psnr_ssim(real, fake)
    assert result["summary"]["psnr"] == pytest.approx(expected["psnr"], rel=1e-6)
    assert result["summary"]["ssim"] == pytest.approx(expected["ssim"], rel=1e-6)
    assert result["clips"][0]["clip"] == "spk1/clip_a"
    assert result["skipped"] == [
        {"clip": "clip_only_real", "reason": "no generated clip of this name"}
    ]
    assert "psnr" in r.output and "skipped clip_only_real" in r.output


@pytest.mark.parametrize("measure", ["quality", "movement"])
def test_no_measurable_pair_fails_and_names_real_out(crops, measure):
    """A source video as REAL (full frames) against generated crops: every pair is skipped
    for its size, and the command fails pointing at `generate --real-out` instead of
    writing a summary of NaNs with exit code 0."""
    root, real, _ = crops
    _write_frames(root / "big" / "spk1" / "clip_a", np.stack([cv2.resize(f, (256, 256))
                                                              for f in real]))
    out_json = root / f"{measure}.json"
    r = CliRunner().invoke(
        main, ["eval", measure, str(root / "big"), str(root / "gen"), "--json", str(out_json),
               "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 1
    assert "frame sizes differ" in r.output and "--real-out" in r.output
    assert not out_json.exists()


def test_identical_clips_give_infinite_psnr_in_valid_json(crops):
    root, _, _ = crops
    out_json = root / "same.json"
    r = CliRunner().invoke(
        main,
        [
            "eval",
            "quality",
            str(root / "real"),
            str(root / "real"),
            "--json",
            str(out_json),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(out_json.read_text())
    assert result["summary"]["psnr"] == "inf" and result["summary"]["ssim"] == 1.0


def test_lmd_command(crops):
    pytest.importorskip("dlib")
    root, _, _ = crops
    out_json = root / "lmd.json"
    r = CliRunner().invoke(
        main,
        [
            "eval",
            "lmd",
            str(root / "real"),
            str(root / "gen"),
            "--json",
            str(out_json),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(out_json.read_text())
    assert result["summary"]["clips"] == 1 and result["summary"]["lmd"] < 3
    assert result["versions"]["dlib"]


def test_missing_inputs_and_weights_fail_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("AVPREP_SYNCNET", raising=False)
    monkeypatch.delenv("AVPREP_INCEPTION", raising=False)
    r = CliRunner().invoke(main, ["eval", "quality", str(tmp_path / "a"), str(tmp_path / "b")])
    assert r.exit_code != 0 and "does not exist" in r.output
    r = CliRunner().invoke(main, ["eval", "sync", str(tmp_path)])
    assert r.exit_code != 0 and "syncnet_v2.model" in r.output
    r = CliRunner().invoke(main, ["eval", "fid", str(tmp_path), str(tmp_path)])
    assert r.exit_code != 0 and "weights-inception-2015-12-05" in r.output


def test_sync_command_with_public_layout_weights(tmp_path):
    torch = pytest.importorskip("torch")
    from models.eval.syncnet import SyncNet

    torch.manual_seed(0)
    state = {k: v for k, v in SyncNet().state_dict().items() if "num_batches" not in k}
    weights = tmp_path / "syncnet_v2.model"
    torch.save(state, weights)
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (10, 64, 64, 3), dtype=np.uint8)
    audio = (rng.normal(0, 0.1, 10 * 640)).astype(np.float32)
    videos = tmp_path / "videos"
    videos.mkdir()
    write_talking_clip(videos / "a.mp4", None, audio, 16000, size=(64, 64), frames=frames)
    (videos / "broken.mp4").write_bytes(b"not a video")
    out_json = tmp_path / "sync.json"
    r = CliRunner().invoke(
        main,
        [
            "eval",
            "sync",
            str(videos),
            "--syncnet-weights",
            str(weights),
            "--device",
            "cpu",
            "--json",
            str(out_json),
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    result = json.loads(out_json.read_text())
    assert result["summary"]["videos"] == 1 and result["clips"][0]["clip"] == "a"
    assert {"lse_c", "lse_d", "offset"} <= set(result["clips"][0])
    assert result["skipped"][0]["clip"] == "broken"


def test_representation_commands_from_npz(tmp_path):
    pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 5, 40)
    logits = np.eye(5)[labels] + 0.1 * rng.normal(size=(40, 5))
    np.savez(tmp_path / "logits.npz", labels=labels, video_logits=logits, audio_logits=-logits)
    r = CliRunner().invoke(
        main,
        ["eval", "lipreading", str(tmp_path / "logits.npz"), "--json", str(tmp_path / "l.json")],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "l.json").read_text())["summary"]
    assert summary["visual_acc"] == 1.0 and summary["audio_acc"] < 0.5

    emb = rng.normal(size=(30, 8))
    np.savez(tmp_path / "emb.npz", audio=emb, video=emb + 0.01 * rng.normal(size=emb.shape))
    r = CliRunner().invoke(
        main,
        [
            "eval",
            "retrieval",
            str(tmp_path / "emb.npz"),
            "--device",
            "cpu",
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["a2v_r1"] == 100.0

    words = np.repeat(np.arange(4), 10)
    np.savez(
        tmp_path / "pid.npz", features=np.eye(4)[words] * 3 + rng.normal(size=(40, 4)), words=words
    )
    r = CliRunner().invoke(
        main,
        [
            "eval",
            "word-info",
            str(tmp_path / "pid.npz"),
            "--test-fraction",
            "0.5",
            "--json",
            str(tmp_path / "w.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "w.json").read_text())["summary"]["test_samples"] == 20
    np.savez(tmp_path / "bad.npz", something=np.zeros(3))
    r = CliRunner().invoke(main, ["eval", "retrieval", str(tmp_path / "bad.npz")])
    assert r.exit_code != 0 and "'audio' and 'video'" in r.output


def test_movement_command_compares_real_and_generated_motion(tmp_path):
    """A face texture panning 2 px per frame vs the same texture panning 1 px per frame: the
    flow magnitude u^2+v^2 is 4 vs 1, so generated/real is about 1/4 (CRAN Fig. 5)."""
    big = skimage.data.astronaut()
    frames = {2: [], 1: []}
    for speed in frames:
        for t in range(6):
            x0 = 150 + speed * t
            frames[speed].append(np.ascontiguousarray(big[60:188, x0 : x0 + 128]))
    _write_frames(tmp_path / "real" / "clip", np.stack(frames[2]))
    _write_frames(tmp_path / "gen" / "clip", np.stack(frames[1]))
    out_json = tmp_path / "m.json"
    r = CliRunner().invoke(
        main,
        ["eval", "movement", str(tmp_path / "real"), str(tmp_path / "gen"), "--json",
         str(out_json), "--no-progress"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads(out_json.read_text())["summary"]
    assert summary["real"] == pytest.approx(4.0, rel=0.2)
    assert summary["generated"] == pytest.approx(1.0, rel=0.2)
    assert summary["ratio"] == pytest.approx(0.25, rel=0.25)
