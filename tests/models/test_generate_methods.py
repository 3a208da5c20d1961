"""`avprep generate cran|dvae` and video-driven DAVS: tiny checkpoints made here by the real
trainers (one step on a synthetic batch) and saved in the core's run-checkpoint layout; the
photo and speech go through avprep's face and audio stages as in tests/models/test_generate.py.

Which frames are made is checked against each track's window recipe written out here
(independent of avprep's window code), and the generated frames against the trainers' own
eval-mode generation on the same crop and windows."""

from __future__ import annotations

import importlib.util
import json

import av
import cv2
import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from avprep.cli import main
from avprep.datasets.demo_media import SPEECH_DIR, face_photo, write_talking_clip
from models.training import TrainContext
from models.training.checkpoint import save_checkpoint
from models.training.config import resolve_config

# The face stage (dlib) runs on the CPU but must be installed: the GPU machine has no dlib,
# and its 100 MB landmark model cannot travel there (benchmarks/gpu_prep.py).
NO_DLIB = importlib.util.find_spec("dlib") is None
NO_DLIB_WHY = "the face stage needs dlib"

CPU = TrainContext(device=torch.device("cpu"))
SR = 16000


def save_run(run_dir, method: str, stage: str, trainer, sets=(), step: int = 1) -> str:
    """The trainer's state in the core's layout (as models.training.loop writes it, with
    its own state collector: RUN/checkpoints/step-*.pt); returns RUN."""
    from models.training.checkpoint import FORMAT, rng_state
    from models.training.loop import _collect_state

    run = resolve_config(method, stage=stage, sets=list(sets))
    state = {
        "format": FORMAT, "method": run.method, "stage": run.stage, "step": step,
        **_collect_state(trainer), "config": run.to_json(), "world_size": 1,
        "ranks": [{"rng": rng_state(), "loader": {}}],
    }  # fmt: skip
    save_checkpoint(run_dir, step, state, keep_last=1)
    return str(run_dir)


# --------------------------------------------------------------------------- the runs

CRAN_SETS = ("channel_divisor=16", "batch_size=2")


def cran_trainer(stage: str):
    from models.cran.trainer import CranCaeTrainer, CranRaeTrainer

    cls = CranRaeTrainer if stage == "rae" else CranCaeTrainer
    cfg = resolve_config("cran", stage=stage, sets=list(CRAN_SETS)).method_config
    torch.manual_seed(0)
    tr = cls(cfg, CPU)
    rng = np.random.default_rng(0)
    B, L = 2, 3
    mfcc = rng.standard_normal((B, L, 12, 35)).astype(np.float32)
    batch = {
        "reference": torch.from_numpy(rng.integers(0, 255, (B, 112, 112, 3), dtype=np.uint8)),
        "frames": torch.from_numpy(rng.integers(0, 255, (B, L, 112, 112, 3), dtype=np.uint8)),
        "mfcc": torch.from_numpy(mfcc),
        "mfcc_mismatch": torch.from_numpy(np.roll(mfcc, 1, axis=0).copy()),
    }
    tr.train_step(batch, 0)  # trained from scratch: one real step (BN statistics move)
    return tr


DVAE_SETS = (
    "lstm_hidden=8", "lstm_layers=1", "z_content=4", "z_emotion=4", "z_sequence=4",
    "ngf=2", "ndf=2", "d_frame_layers=2", "d_video_channels=[2,4]", "landmark_width=2",
    "n_critic=1", "seq_len=2",
)  # fmt: skip


def dvae_runs(base, wav: str):
    """A vae run (normalisation: the speech's own logspec_dvae statistics) and a gan run
    whose vae_checkpoint is that run; returns (vae run, gan run, gan trainer)."""
    from avprep.features.config import get_feature_config
    from avprep.features.tracks import compute_track
    from models.dvae.normalize import stats_from_tracks
    from models.dvae.trainer import GanTrainer, LandmarkTrainer, VaeTrainer

    torch.manual_seed(0)
    vae_cfg = resolve_config("dvae", stage="vae", sets=list(DVAE_SETS)).method_config
    vae = VaeTrainer(vae_cfg, CPU)
    speech, _ = sf.read(wav, dtype="float32")
    track = compute_track(speech, get_feature_config("logspec_dvae"))
    vae.set_normalization(stats_from_tracks([track]))
    vae_run = save_run(base / "vae", "dvae", "vae", vae, DVAE_SETS)
    lm = LandmarkTrainer(
        resolve_config("dvae", stage="landmarks", sets=list(DVAE_SETS)).method_config, CPU
    )
    lm_run = save_run(base / "lm", "dvae", "landmarks", lm, DVAE_SETS)
    gan_sets = (*DVAE_SETS, f"vae_checkpoint={vae_run}", f"landmark_checkpoint={lm_run}")
    gan_cfg = resolve_config("dvae", stage="gan", sets=list(gan_sets)).method_config
    gan = GanTrainer(gan_cfg, CPU)
    rng = np.random.default_rng(0)
    b, L = 1, 2
    batch = {
        "frames": torch.from_numpy(rng.integers(0, 255, (b, L, 256, 256, 3), dtype=np.uint8)),
        "reference": torch.from_numpy(rng.integers(0, 255, (b, 256, 256, 3), dtype=np.uint8)),
        "segments": torch.from_numpy(rng.normal(-40, 10, (b, L, 20, 200)).astype(np.float32)),
        "viseme_ids": torch.from_numpy(rng.integers(0, 21, (b, L))),
        "mouth_landmarks": torch.from_numpy(rng.uniform(80, 180, (b, L, 20, 2)).astype("f4")),
    }
    gan.train_step(batch, 0)
    gan_run = save_run(base / "gan", "dvae", "gan", gan, gan_sets)
    return vae_run, gan_run, gan


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    base = tmp_path_factory.mktemp("generate_methods")
    photo = base / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(face_photo(), cv2.COLOR_RGB2BGR))
    speech, sr = sf.read(str(SPEECH_DIR / "librivox_ss01_0880.wav"), dtype="int16")
    assert sr == SR
    wav = base / "speech.wav"
    sf.write(str(wav), speech[:SR], SR, subtype="PCM_16")  # 1 s
    rae = cran_trainer("rae")
    cae = cran_trainer("cae")
    vae_run, gan_run, gan = dvae_runs(base, str(wav))
    return {
        "base": base, "photo": str(photo), "wav": str(wav),
        "rae": save_run(base / "rae", "cran", "rae", rae, CRAN_SETS), "rae_trainer": rae,
        "cae": save_run(base / "cae", "cran", "cae", cae, CRAN_SETS),
        "vae": vae_run, "gan": gan_run, "gan_trainer": gan,
    }  # fmt: skip


# --------------------------------------------------------------------------- helpers


def cran_frames(n: int) -> tuple[int, int]:
    """(first, count) for mfcc_cran: python_speech_features 320-sample frames every 160
    (step j exists when 160 j + 320 <= n), 35 steps centred on frame i's centre (sample
    640 i + 320): steps 4i-16 .. 4i+18."""
    frames = n // 640
    good = [i for i in range(frames) if 4 * i - 16 >= 0 and 160 * (4 * i + 18) + 320 <= n]
    return good[0], len(good)


def dvae_frames(n: int) -> tuple[int, int]:
    """(first, count) for logspec_dvae: 400-sample frames every 160 (not centred), 20 steps
    centred on frame i's centre: steps 4i-9 .. 4i+10."""
    frames = n // 640
    good = [i for i in range(frames) if 4 * i - 9 >= 0 and 160 * (4 * i + 10) + 400 <= n]
    return good[0], len(good)


def read_mp4(path):
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
        if not c.streams.audio:
            return frames, None
    with av.open(str(path)) as c:
        res = av.AudioResampler(format="flt", layout="mono", rate=SR)
        chunks = []
        for f in c.decode(audio=0):
            chunks += [r.to_ndarray().reshape(-1) for r in res.resample(f)]
        chunks += [r.to_ndarray().reshape(-1) for r in res.resample(None)]
    return frames, np.concatenate(chunks)


def assert_audio_is(audio: np.ndarray, ref: np.ndarray) -> None:
    """The muxed sound is ``ref`` (AAC: priming and padding of up to 2048 samples)."""
    assert abs(len(audio) - len(ref)) <= 2048
    m = len(ref) - 2048
    best = max(np.corrcoef(audio[d : d + m], ref[:m])[0, 1] for d in range(0, 2048, 16))
    assert best > 0.9


def run_cli(method, *args):
    return CliRunner().invoke(main, ["generate", method, *args], catch_exceptions=False)


# --------------------------------------------------------------------------- CRAN


def test_cran_rae_photo_and_speech_to_mp4(assets, tmp_path):
    out = tmp_path / "cran.mp4"
    r = run_cli("cran", "--checkpoint", assets["rae"], "--image", assets["photo"],
                "--audio", assets["wav"], "--out", str(out), "--device", "cpu")  # fmt: skip
    assert r.exit_code == 0, r.output
    info = json.loads(r.output.strip().splitlines()[-1])
    frames, audio = read_mp4(out)
    speech, _ = sf.read(assets["wav"], dtype="float32")
    first, count = cran_frames(len(speech))
    assert (first, count) == (4, 17)  # 1 s: frames 4..20
    assert len(frames) == count == info["frames"] and info["first_frame"] == first
    assert frames.shape[1:] == (112, 112, 3) and frames.std() > 1
    assert_audio_is(audio, speech[first * 640 : (first + count) * 640])


def test_cran_matches_the_trainers_eval_generation(assets):
    """The generator over the whole speech is the trainer's own eval-mode forward (crop in
    the CRAN template, (12, 35) windows, the GRU over the sequence from a zero state)."""
    from models.generate import (
        CranGenerator,
        GenerateOptions,
        face_crop,
        photo_face,
        speech_windows,
    )  # fmt: skip

    gen = CranGenerator(assets["rae"], GenerateOptions(device="cpu"))
    assert gen.recurrent and gen.stage == "rae"
    face = photo_face(assets["photo"], 112, template="cran112")
    crop = face_crop(face, 112)
    assert crop.shape == (112, 112, 3)
    # the CRAN template crop is black outside the photo and differs from the DAVS one
    davs = face_crop(photo_face(assets["photo"], 112), 112)
    assert not np.array_equal(crop, davs)
    speech = speech_windows(assets["wav"], "mfcc_cran")
    made = gen(crop, speech)
    tr = assets["rae_trainer"]
    for m in tr.modules.values():
        m.eval()
    with torch.no_grad():
        ref = torch.from_numpy(crop)[None].movedim(-1, 1).float() / 127.5 - 1
        mfcc = torch.from_numpy(speech.windows.transpose(0, 2, 1).copy())[None]
        fake, _ = tr.generate(ref, mfcc, train=False)
    want = ((fake[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).movedim(1, -1).numpy()
    assert made.shape == want.shape == (17, 112, 112, 3)
    assert np.abs(made.astype(int) - want.astype(int)).max() <= 1


def test_cran_cae_checkpoint_generates_frame_by_frame(assets, tmp_path):
    from models.generate import CranGenerator, GenerateOptions

    gen = CranGenerator(assets["cae"], GenerateOptions(device="cpu"))
    assert not gen.recurrent and "recurrent" not in gen.nets
    out = tmp_path / "cae.mp4"
    r = run_cli("cran", "--checkpoint", assets["cae"], "--image", assets["photo"],
                "--audio", assets["wav"], "--out", str(out), "--paste-back")  # fmt: skip
    assert r.exit_code == 0, r.output
    frames, _ = read_mp4(out)
    assert frames.shape == (17, *face_photo().shape)


# --------------------------------------------------------------------------- DVAE


def test_dvae_photo_and_speech_to_mp4(assets, tmp_path):
    out = tmp_path / "dvae.mp4"
    r = run_cli("dvae", "--checkpoint", assets["gan"], "--image", assets["photo"],
                "--audio", assets["wav"], "--out", str(out))  # fmt: skip
    assert r.exit_code == 0, r.output
    info = json.loads(r.output.strip().splitlines()[-1])
    frames, audio = read_mp4(out)
    speech, _ = sf.read(assets["wav"], dtype="float32")
    first, count = dvae_frames(len(speech))
    assert (first, count) == (3, 19)  # 1 s: frames 3..21
    assert len(frames) == count == info["frames"] and info["first_frame"] == first
    assert frames.shape[1:] == (256, 256, 3) and frames.std() > 1
    assert_audio_is(audio, speech[first * 640 : (first + count) * 640])


def test_dvae_uses_the_stored_vae_and_normalisation(assets):
    """z_c from the gan run's frozen VAE on segments normalised with the stored per-bin
    statistics, then auto-regressive frames: the trainer's own eval generation."""
    from models.dvae.networks import generate_sequence
    from models.generate import (
        DvaeGenerator,
        GenerateOptions,
        face_crop,
        photo_face,
        speech_windows,
    )  # fmt: skip

    gen = DvaeGenerator(assets["gan"], GenerateOptions(device="cpu"))
    tr = assets["gan_trainer"]
    np.testing.assert_array_equal(gen.stats.mean, tr.stats.mean)
    np.testing.assert_array_equal(gen.stats.std, tr.stats.std)
    assert not np.allclose(gen.stats.mean, 0)  # real statistics, not an identity
    crop = face_crop(photo_face(assets["photo"], 256), 256)
    speech = speech_windows(assets["wav"], "logspec_dvae")
    assert speech.windows.shape[1:] == (20, 200)
    made = gen(crop, speech)
    with torch.no_grad():
        face = torch.from_numpy(crop)[None].movedim(-1, 1).float() / 127.5 - 1
        z = tr.content(torch.from_numpy(speech.windows)[None], sample=False)
        fake = generate_sequence(tr.modules["generator"], face, z)[0]
    want = ((fake.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).movedim(1, -1).numpy()
    assert made.shape == want.shape == (19, 256, 256, 3)
    assert np.abs(made.astype(int) - want.astype(int)).max() <= 1
    # the normalisation matters: without it z_c (and so the frames) differ
    raw = gen.vae.encode_content(torch.from_numpy(speech.windows))[0]
    assert not torch.allclose(raw, gen.content(speech.windows), atol=1e-3)


# --------------------------------------------------------------------------- DAVS by video


@pytest.fixture(scope="module")
def davs_ckpt(tmp_path_factory):
    from models.davs.checkpoint import official_checkpoint
    from models.davs.config import DavsTrainConfig
    from models.davs.trainer import make_network

    torch.manual_seed(0)
    cfg = DavsTrainConfig(width=1 / 16, image_size=64)
    names = ("ID_encoder", "Decoder", "mfcc_encoder", "lip_feature_encoder")
    state = official_checkpoint({n: make_network(n, cfg) for n in names})
    state["config"] = {"method": "davs", "method_config": {"width": 1 / 16, "image_size": 64}}
    path = tmp_path_factory.mktemp("davs") / "davs_tiny.pt"
    torch.save(state, path)
    return str(path)


def test_davs_driven_by_a_video(assets, davs_ckpt, tmp_path):
    from models.generate import DavsGenerator, GenerateOptions, read_driving_video

    speech, _ = sf.read(assets["wav"], dtype="float32")
    clip = tmp_path / "driver.mp4"
    write_talking_clip(clip, face_photo(), speech, size=(256, 256), motion=0.0)
    out = tmp_path / "driven.mp4"
    r = run_cli("davs", "--checkpoint", davs_ckpt, "--image", assets["photo"],
                "--driving-video", str(clip), "--out", str(out), "--no-finetune")  # fmt: skip
    assert r.exit_code == 0, r.output
    info = json.loads(r.output.strip().splitlines()[-1])
    frames, audio = read_mp4(out)
    assert len(frames) == info["frames"] == info["driving_frames"] == 25  # every frame
    assert info["audio"] is True and frames.shape[1:] == (64, 64, 3)
    assert_audio_is(audio, speech)  # the driving video's own sound
    # the frames come from the driving crops' lip features (official video test)
    gen = DavsGenerator(davs_ckpt, GenerateOptions(device="cpu", finetune=False))
    drive = read_driving_video(str(clip), 64)
    assert drive.crops.shape == (25, 64, 64, 3) and drive.face_ok.all()
    from models.generate import face_crop, photo_face

    crop = face_crop(photo_face(assets["photo"], 64), 64)
    a = gen.drive(crop, drive.crops)
    b = gen.drive(crop, drive.crops[::-1].copy())
    assert a.shape == (25, 64, 64, 3)
    np.testing.assert_array_equal(a[::-1], b)  # frame t follows driving frame t only

    # a driving video without sound: the MP4 has no audio stream
    mute = tmp_path / "mute.mp4"
    write_talking_clip(mute, face_photo(), None, size=(256, 256), n_frames=10, motion=0.0)
    out2 = tmp_path / "driven_mute.mp4"
    r = run_cli("davs", "--checkpoint", davs_ckpt, "--image", assets["photo"],
                "--driving-video", str(mute), "--out", str(out2))  # fmt: skip
    assert r.exit_code == 0, r.output
    frames, audio = read_mp4(out2)
    assert len(frames) == 10 and audio is None
    # only DAVS can follow a video
    r = CliRunner().invoke(main, ["generate", "cran", "--checkpoint", assets["rae"], "--image",
                                  assets["photo"], "--driving-video", str(clip), "--out",
                                  str(tmp_path / "x.mp4")])  # fmt: skip
    assert r.exit_code != 0 and "speech only" in r.output


# --------------------------------------------------------------------------- bad input


def test_wrong_checkpoints_name_the_method(assets, davs_ckpt, tmp_path):
    out = str(tmp_path / "x.mp4")
    common = ("--image", assets["photo"], "--audio", assets["wav"], "--out", out)
    r = run_cli("dvae", "--checkpoint", assets["rae"], *common)
    assert r.exit_code != 0 and "cran checkpoint" in r.output and "generate cran" in r.output
    r = run_cli("cran", "--checkpoint", assets["gan"], *common)
    assert r.exit_code != 0 and "dvae checkpoint" in r.output
    r = run_cli("davs", "--checkpoint", assets["rae"], *common)
    assert r.exit_code != 0 and "cran checkpoint" in r.output
    r = run_cli("cran", "--checkpoint", davs_ckpt, *common)
    assert r.exit_code != 0 and "davs checkpoint" in r.output
    r = run_cli("dvae", "--checkpoint", assets["vae"], *common)
    assert r.exit_code != 0 and "'vae'" in r.output and "stage 'gan'" in r.output
    r = run_cli("dvae", "--checkpoint", str(tmp_path / "nothing"), *common)
    assert r.exit_code != 0 and "not found" in r.output
    empty = tmp_path / "empty_run"
    empty.mkdir()
    r = run_cli("cran", "--checkpoint", str(empty), *common)
    assert r.exit_code != 0 and "empty_run" in r.output and "no checkpoint" in r.output
    assert not (tmp_path / "x.mp4").exists()


def test_gan_checkpoint_without_its_vae_is_refused(assets, tmp_path):
    state = torch.load(
        sorted((assets["base"] / "gan" / "checkpoints").glob("*.pt"))[-1], weights_only=True
    )
    state["extra"]["loaded"]["vae"] = False
    path = tmp_path / "novae.pt"
    torch.save(state, path)
    r = run_cli("dvae", "--checkpoint", str(path), "--image", assets["photo"], "--audio",
                assets["wav"], "--out", str(tmp_path / "x.mp4"))  # fmt: skip
    assert r.exit_code != 0 and "vae_checkpoint" in r.output
    del state["extra"]["normalization"]
    state["extra"]["loaded"]["vae"] = True
    torch.save(state, path)
    r = run_cli("dvae", "--checkpoint", str(path), "--image", assets["photo"], "--audio",
                assets["wav"], "--out", str(tmp_path / "x.mp4"))  # fmt: skip
    assert r.exit_code != 0 and "normalisation" in r.output


@pytest.mark.parametrize("method", ["cran", "dvae"])
def test_bad_speech_and_photo(assets, tmp_path, method):
    ckpt = assets["rae" if method == "cran" else "gan"]
    out = str(tmp_path / "x.mp4")
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(SR, np.int16), SR, subtype="PCM_16")
    r = run_cli(method, "--checkpoint", ckpt, "--image", assets["photo"], "--audio",
                str(silent), "--out", out)  # fmt: skip
    assert r.exit_code != 0 and "silent.wav" in r.output and "silent" in r.output
    short = tmp_path / "short.wav"
    speech, _ = sf.read(assets["wav"], dtype="int16")
    sf.write(str(short), speech[: int(0.2 * SR)], SR, subtype="PCM_16")  # 5 frames: none whole
    r = run_cli(method, "--checkpoint", ckpt, "--image", assets["photo"], "--audio",
                str(short), "--out", out)  # fmt: skip
    assert r.exit_code != 0 and "short.wav" in r.output and "too short" in r.output
    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((120, 160, 3), 128, np.uint8))
    r = run_cli(method, "--checkpoint", ckpt, "--image", str(wall), "--audio", assets["wav"],
                "--out", out)  # fmt: skip
    assert r.exit_code != 0 and "wall.png" in r.output and "no usable face" in r.output
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("method", ["cran", "dvae"])
def test_batch_mode(assets, tmp_path, method):
    ckpt = assets["rae" if method == "cran" else "gan"]
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for name in ("a", "b"):
        (pairs / f"{name}.png").write_bytes(open(assets["photo"], "rb").read())
        (pairs / f"{name}.wav").write_bytes(open(assets["wav"], "rb").read())
    cv2.imwrite(str(pairs / "noface.png"), np.full((200, 200, 3), 90, np.uint8))
    (pairs / "noface.wav").write_bytes(open(assets["wav"], "rb").read())
    out = tmp_path / "out"
    r = run_cli(method, "--checkpoint", ckpt, "--pairs", str(pairs), "--out", str(out),
                "--no-progress")  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_ok"] == 2 and summary["n_failed"] == 1
    assert "no usable face" in summary["failed"][0]["error"]
    count = 17 if method == "cran" else 19
    for name in ("a", "b"):
        frames, _ = read_mp4(out / f"{name}.mp4")
        assert len(frames) == count


def test_cran_from_a_video_reference_frame(assets, tmp_path):
    """--video with CRAN: the reference frame aligned to the CRAN template, the video's own
    sound as the speech."""
    speech, _ = sf.read(assets["wav"], dtype="float32")
    clip = tmp_path / "clip.mp4"
    write_talking_clip(clip, face_photo(), speech, size=(256, 256), motion=0.0)
    out = tmp_path / "cran_video.mp4"
    r = run_cli("cran", "--checkpoint", assets["rae"], "--video", str(clip),
                "--reference-frame", "2", "--out", str(out))  # fmt: skip
    assert r.exit_code == 0, r.output
    info = json.loads(r.output.strip().splitlines()[-1])
    frames, _ = read_mp4(out)
    assert info["reference_frame"] == 2 and frames.shape == (17, 112, 112, 3)


def test_help_lists_the_methods_and_driving_video():
    r = CliRunner().invoke(main, ["generate", "--help"])
    assert r.exit_code == 0
    for word in ("--driving-video", "cran", "dvae", "--max-seconds", "4..N-5", "3..N-4"):
        assert word in r.output


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.skipif(NO_DLIB, reason=NO_DLIB_WHY)
@pytest.mark.parametrize("method", ["cran", "dvae"])
def test_methods_on_cuda(assets, tmp_path, method):
    out = tmp_path / f"{method}.mp4"
    ckpt = assets["rae" if method == "cran" else "gan"]
    r = run_cli(method, "--checkpoint", ckpt, "--image", assets["photo"], "--audio",
                assets["wav"], "--out", str(out), "--device", "cuda")  # fmt: skip
    assert r.exit_code == 0, r.output
    frames, _ = read_mp4(out)
    assert len(frames) == (17 if method == "cran" else 19)
