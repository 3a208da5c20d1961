"""`avprep generate`: photo + speech -> talking-face MP4 through avprep's own face and audio
stages and the DAVS official test procedure (tiny DAVS checkpoint made here)."""

from __future__ import annotations

import importlib.util
import json
import math

import av
import cv2
import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from avprep.cli import main
from avprep.datasets.demo_media import SPEECH_DIR, face_photo
from models.davs.checkpoint import official_checkpoint
from models.davs.config import DavsTrainConfig
from models.davs.trainer import make_network

# The face stage (dlib) runs on the CPU but must be installed: the GPU machine has no dlib,
# and its 100 MB landmark model cannot travel there (benchmarks/gpu_prep.py).
NO_DLIB = importlib.util.find_spec("dlib") is None
NO_DLIB_WHY = "the face stage needs dlib"

WIDTH, SIZE = 1 / 16, 64
CUT_SECONDS = 1.0


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A tiny avprep-layout DAVS checkpoint, the astronaut photo, ~1 s of LibriVox speech."""
    base = tmp_path_factory.mktemp("generate")
    torch.manual_seed(0)
    cfg = DavsTrainConfig(width=WIDTH, image_size=SIZE)
    names = ("ID_encoder", "Decoder", "mfcc_encoder", "lip_feature_encoder")
    nets = {n: make_network(n, cfg) for n in names}
    ckpt = base / "davs_tiny.pt"
    state = official_checkpoint(nets)  # official module states, plus the run's config
    state["config"] = {"method": "davs", "method_config": {"width": WIDTH, "image_size": SIZE}}
    torch.save(state, ckpt)
    photo = base / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(face_photo(), cv2.COLOR_RGB2BGR))
    speech, sr = sf.read(str(SPEECH_DIR / "librivox_ss01_0880.wav"), dtype="int16")
    assert sr == 16000
    wav = base / "speech.wav"
    sf.write(str(wav), speech[: int(CUT_SECONDS * sr)], sr, subtype="PCM_16")
    return {"base": base, "ckpt": str(ckpt), "photo": str(photo), "wav": str(wav)}


def expected_frames(n_samples: int) -> tuple[int, int]:
    """(first, count) of the frames with a whole mfcc_davs window, from the official recipe
    (independent of avprep's window code): frame i uses 25 ms / 10 ms MFCC steps
    4i-8 .. 4i+11; a step j exists when 160 j + 400 <= samples."""
    n_frames = n_samples // 640
    steps = (n_frames * 640 - 400) // 160 + 1
    good = [i for i in range(n_frames) if 4 * i - 8 >= 0 and 4 * i + 11 < steps]
    return good[0], len(good)


def read_mp4(path):
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        assert vs.codec_context.name == "h264"
        assert c.streams.audio[0].codec_context.name == "aac"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        res = av.AudioResampler(format="flt", layout="mono", rate=16000)
        chunks = []
        for f in c.decode(audio=0):
            chunks += [r.to_ndarray().reshape(-1) for r in res.resample(f)]
        chunks += [r.to_ndarray().reshape(-1) for r in res.resample(None)]
    return np.stack(frames), np.concatenate(chunks)


def run_cli(*args):
    result = CliRunner().invoke(main, ["generate", "davs", *args], catch_exceptions=False)
    return result


def test_photo_and_speech_to_mp4(assets, tmp_path):
    out = tmp_path / "talking.mp4"
    r = run_cli(
        "--checkpoint",
        assets["ckpt"],
        "--image",
        assets["photo"],
        "--audio",
        assets["wav"],
        "--out",
        str(out),
        "--device",
        "cpu",
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.output.strip().splitlines()[-1])
    frames, audio = read_mp4(out)
    speech, _ = sf.read(assets["wav"], dtype="float32")
    first, count = expected_frames(len(speech))
    assert (first, count) == (2, 20)  # 1 s: frames 2..21 (the last windows end at 0.975 s)
    assert len(frames) == count == info["frames"] and info["first_frame"] == first
    assert frames.shape[1:] == (SIZE, SIZE, 3)
    assert frames.std() > 1  # a picture, not a blank
    # the muxed speech is the speech under those frames (AAC: roughly, aligned by xcorr)
    ref = speech[first * 640 : (first + count) * 640]
    assert abs(len(audio) - len(ref)) <= 2048  # AAC priming / last-frame padding
    best = max(
        np.corrcoef(audio[d : d + len(ref) - 2048], ref[: len(ref) - 2048])[0, 1]
        for d in range(0, 2048, 16)
    )
    assert best > 0.9


def test_paste_back_keeps_the_photo_outside_the_face(assets, tmp_path):
    from avprep.face.alignment import apply_affine, invert_affine
    from models.generate import photo_face

    out = tmp_path / "pasted.mp4"
    r = run_cli(
        "--checkpoint",
        assets["ckpt"],
        "--image",
        assets["photo"],
        "--audio",
        assets["wav"],
        "--out",
        str(out),
        "--paste-back",
        "--no-finetune",
    )
    assert r.exit_code == 0, r.output
    frames, _ = read_mp4(out)
    photo = face_photo()
    assert frames.shape[1:] == photo.shape
    # the crop's footprint in the photo, from the stored transform
    face = photo_face(assets["photo"], SIZE)
    corners = apply_affine(
        invert_affine(face.transform), np.array([[0, 0], [SIZE, 0], [0, SIZE], [SIZE, SIZE]], float)
    )
    x0, y0 = corners.min(0)
    x1, y1 = corners.max(0)
    assert 100 < x0 < x1 < 400 and 0 < y0 < y1 < 400  # on the astronaut's face
    far = np.ones(photo.shape[:2], bool)
    far[max(0, int(y0) - 24) : int(y1) + 24, max(0, int(x0) - 24) : int(x1) + 24] = False
    # outside the face: the photo (H.264 at crf 20 only), inside: the generated face
    diff = np.abs(frames.astype(int) - photo.astype(int))
    assert diff[:, far].mean() < 4
    inside = np.zeros_like(far)
    inside[int(y0) + 8 : int(y1) - 8, int(x0) + 8 : int(x1) - 8] = True
    assert diff[:, inside].mean() > 4 * diff[:, far].mean()


def test_paste_back_is_exact_away_from_the_crop():
    from models.generate import paste_back

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    # crop of side 32 covering photo x in [40, 72), y in [20, 52) (scale 1, translation)
    a = np.array([[1.0, 0.0, -40.0], [0.0, 1.0, -20.0]])
    crops = np.full((2, 32, 32, 3), 200, np.uint8)
    out = np.stack(list(paste_back(photo, crops, a, feather=0.125)))
    assert out.shape == (2, 90, 120, 3)
    outside = np.ones((90, 120), bool)
    outside[20:52, 40:72] = False
    assert np.array_equal(out[:, outside], np.repeat(photo[None], 2, 0)[:, outside])
    assert np.all(out[:, 28:44, 48:64] == 200)  # inside the blend band: the crop itself


def test_batch_records_a_bad_pair_and_continues(assets, tmp_path):
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    (pairs / "good.png").write_bytes(open(assets["photo"], "rb").read())
    (pairs / "good.wav").write_bytes(open(assets["wav"], "rb").read())
    blank = np.full((200, 200, 3), 90, np.uint8)  # no face
    cv2.imwrite(str(pairs / "noface.png"), blank)
    (pairs / "noface.wav").write_bytes(open(assets["wav"], "rb").read())
    (pairs / "badaudio.png").write_bytes(open(assets["photo"], "rb").read())
    (pairs / "badaudio.wav").write_bytes(b"RIFF not really a wav")
    out = tmp_path / "out"
    r = run_cli(
        "--checkpoint",
        assets["ckpt"],
        "--pairs",
        str(pairs),
        "--out",
        str(out),
        "--no-finetune",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_ok"] == 1 and summary["n_failed"] == 2
    assert [row["name"] for row in summary["ok"]] == ["good"]
    errors = {row["name"]: row["error"] for row in summary["failed"]}
    assert "noface.png" in errors["noface"] and "no usable face" in errors["noface"]
    assert "badaudio.wav" in errors["badaudio"]
    assert (out / "good.mp4").is_file() and not (out / "noface.mp4").exists()
    assert not list(out.glob(".*"))  # no temporary files left behind
    # the same pairs as a CSV
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text("image,audio,name\npairs/good.png,pairs/good.wav,first\n")
    r = run_cli(
        "--checkpoint",
        assets["ckpt"],
        "--pairs",
        str(csv_path),
        "--out",
        str(tmp_path / "out2"),
        "--no-finetune",
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out2" / "first.mp4").is_file()


def test_bad_inputs_name_the_file(assets, tmp_path):
    out = str(tmp_path / "x.mp4")
    missing = str(tmp_path / "nope.pth.tar")
    r = run_cli(
        "--checkpoint", missing, "--image", assets["photo"], "--audio", assets["wav"], "--out", out
    )
    assert r.exit_code != 0 and "nope.pth.tar" in r.output and "not found" in r.output
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 128, np.uint8))
    r = run_cli(
        "--checkpoint",
        assets["ckpt"],
        "--image",
        str(blank),
        "--audio",
        assets["wav"],
        "--out",
        out,
    )
    assert r.exit_code != 0 and "wall.png" in r.output and "no usable face" in r.output
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"\x00" * 100)
    r = run_cli(
        "--checkpoint",
        assets["ckpt"],
        "--image",
        assets["photo"],
        "--audio",
        str(noise),
        "--out",
        out,
    )
    assert r.exit_code != 0 and "noise.wav" in r.output
    r = run_cli(
        "--checkpoint",
        assets["ckpt"],
        "--image",
        assets["photo"],
        "--audio",
        str(tmp_path / "absent.wav"),
        "--out",
        out,
    )
    assert r.exit_code != 0 and "absent.wav" in r.output
    assert not (tmp_path / "x.mp4").exists()
    r = CliRunner().invoke(
        main,
        [
            "generate",
            "cran",
            "--checkpoint",
            assets["ckpt"],
            "--image",
            assets["photo"],
            "--audio",
            assets["wav"],
            "--out",
            out,
        ],
    )
    # a DAVS checkpoint given to another method names what it is
    assert r.exit_code != 0 and "davs checkpoint" in r.output and "generate davs" in r.output


def test_video_input_uses_a_reference_frame(assets, tmp_path):
    from avprep.datasets.demo_media import write_talking_clip

    speech, _ = sf.read(assets["wav"], dtype="float32")
    clip = tmp_path / "clip.mp4"
    write_talking_clip(clip, face_photo(), speech, size=(256, 256), motion=0.0)
    out = tmp_path / "from_video.mp4"
    r = run_cli(
        "--checkpoint",
        assets["ckpt"],
        "--video",
        str(clip),
        "--reference-frame",
        "3",
        "--out",
        str(out),
        "--no-finetune",
        "--paste-back",
    )
    assert r.exit_code == 0, r.output
    info = json.loads(r.output.strip().splitlines()[-1])
    assert info["reference_frame"] == 3 and info["size"] == [256, 256]
    frames, _ = read_mp4(out)
    assert len(frames) == expected_frames(len(speech))[1]
    r = run_cli(
        "--checkpoint",
        assets["ckpt"],
        "--video",
        str(clip),
        "--reference-frame",
        "999",
        "--out",
        str(out),
    )
    assert r.exit_code != 0 and "999" in r.output and "clip.mp4" in r.output
    assert math.isfinite(info["frames"])


def test_unreadable_checkpoint_names_the_file(assets, tmp_path):
    bad = tmp_path / "broken.pth.tar"
    bad.write_bytes(b"not a torch file")
    r = run_cli("--checkpoint", str(bad), "--image", assets["photo"], "--audio", assets["wav"],
                "--out", str(tmp_path / "x.mp4"))  # fmt: skip
    assert r.exit_code != 0 and "broken.pth.tar" in r.output


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.skipif(NO_DLIB, reason=NO_DLIB_WHY)
def test_full_size_official_layout_on_cuda(assets, tmp_path):
    """The official full-size layout (no run config: width 1, 256 template) on the GPU."""
    cfg = DavsTrainConfig()
    names = ("ID_encoder", "Decoder", "mfcc_encoder", "lip_feature_encoder")
    ckpt = tmp_path / "101_DAVS_checkpoint.pth.tar"
    torch.save(official_checkpoint({n: make_network(n, cfg) for n in names}), ckpt)
    out = tmp_path / "talking.mp4"
    r = run_cli("--checkpoint", str(ckpt), "--image", assets["photo"], "--audio", assets["wav"],
                "--out", str(out), "--device", "cuda", "--paste-back")  # fmt: skip
    assert r.exit_code == 0, r.output
    frames, _ = read_mp4(out)
    assert frames.shape == (20, 512, 512, 3)


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys\nfrom avprep.cli import main\nfor args in (['--help'], ['generate', "
        "'--help']):\n    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--paste-back" in done.stdout and "--pairs" in done.stdout
