"""`avprep eval davs-features`: a tiny DAVS run made by the real trainer on the demo's word
clips (at image_size 64: also the regression test for training at that size on a real build),
exported and scored by `avprep eval lipreading | retrieval | word-info`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from avprep.cli import main
from avprep.reader import iter_samples
from models.davs.config import DavsTrainConfig
from models.davs.export import export_view
from models.davs.trainer import images01, make_network
from models.training import checkpoint as ckpt
from tests.models.davs.davs_fixtures import build_demo_words

TINY = ["--set", "width=0.0625", "--set", "image_size=64", "--set", "word_classes=500"]


def _cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def _ok(*args):
    result = _cli(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def words_build(tmp_path_factory):
    return build_demo_words(tmp_path_factory.mktemp("davs_export"))


def _train(build, out, stage, steps=2, *extra):
    _ok(
        "train", "davs", "--data", build, "--out", out, "--stage", stage, "--steps", steps,
        "--batch-size", 2, "--workers", 0, "--device", "cpu", "--no-progress", *TINY,
        "--set", "log_every=1", "--set", "checkpoint_every=2", *extra,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def joint_run(words_build, tmp_path_factory):
    """The joint stage at image_size 64 on the real build, validating and sampling: it used
    to stop in the decoder (the 256 crops were reshaped into 16 images of 64)."""
    out = tmp_path_factory.mktemp("runs") / "joint64"
    return _train(words_build, out, "joint", 2, "--set", "val_every=2", "--set", "sample_every=2")


@pytest.fixture(scope="module")
def calibrated(joint_run, words_build, tmp_path_factory):
    """The joint run's checkpoint with its BatchNorm statistics measured on the build's
    clips (cumulative averages, train-mode forwards): after 2 steps the running statistics
    are still near their initial values, so in eval mode the tiny video and pid encoders map
    every clip to almost the same feature; with the data's statistics they do not, and a
    row that belongs to another clip shows."""
    from models.data import collate_items

    state = ckpt.load_checkpoint(joint_run)
    cfg = DavsTrainConfig(**state["config"]["method_config"])
    samples = iter_samples(str(words_build), splits=["train"])
    items = [it for s in samples for it in export_view(cfg)(s, np.random.default_rng(0))]
    batch = collate_items(items)
    frames = images01(batch["frames"][:, :20], size=cfg.image_size)
    inputs = {
        "ID_encoder": frames, "lip_feature_encoder": frames,
        "mfcc_encoder": batch["mfcc"][:, :20].float(),
    }  # fmt: skip
    for name, x in inputs.items():
        net = make_network(name, cfg)
        net.load_state_dict(state["modules"][name])
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the forwards
        with torch.no_grad():
            net.train()(x)
        state["modules"][name] = net.state_dict()
    path = tmp_path_factory.mktemp("calibrated") / "joint64-calibrated.pt"
    torch.save(state, path)
    return path


def test_davs_trains_at_image_size_64_on_a_real_build(joint_run):
    import cv2

    state = ckpt.load_checkpoint(joint_run)
    assert state["step"] == 2
    assert state["config"]["method_config"]["image_size"] == 64
    logged = [json.loads(line) for line in (joint_run / "scalars.jsonl").read_text().splitlines()]
    assert any("l1_audio" in row for row in logged)
    assert any(k.startswith("val") for row in logged for k in row), logged[-1]
    grid = cv2.imread(str(joint_run / "samples" / "step-00000002.png"))
    assert grid is not None and 128 <= grid.shape[0] < 256  # two rows of 64 px frames


def test_davs_image_size_other_than_64_128_256_is_refused_before_training(words_build, tmp_path):
    for size in (512, 96):
        r = _cli(
            "train", "davs", "--data", words_build, "--out", tmp_path / str(size), "--steps", 1,
            "--set", f"image_size={size}", "--no-progress",
        )  # fmt: skip
        assert r.exit_code != 0 and "image_size must be one of 64, 128, 256" in r.output
        assert not (tmp_path / str(size) / "checkpoints").exists()


def test_images01_box_filters_the_crop_down_to_the_network_size():
    x = torch.randint(0, 256, (2, 3, 256, 256, 3), dtype=torch.uint8)
    y = images01(x, size=64)
    assert y.shape == (2, 3, 3, 64, 64)
    want = F.avg_pool2d(x.reshape(6, 256, 256, 3).permute(0, 3, 1, 2).float() / 255, 4)
    assert torch.allclose(y.reshape(6, 3, 64, 64), want, atol=1e-6)
    half = images01(x, size=128).reshape(6, 3, 128, 128)
    assert torch.allclose(F.avg_pool2d(half, 2), want, atol=1e-6)
    assert torch.equal(images01(x, size=256), images01(x))
    with pytest.raises(ValueError, match="at most 256"):
        images01(x, size=512)


def _export(run, build, out, split="train", *extra):
    return _ok(
        "eval", "davs-features", "--checkpoint", run, "--data", build, "--split", split,
        "--out", out, "--batch-size", 4, "--device", "cpu", "--no-progress", *extra,
    )  # fmt: skip


def _load(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _direct(run, item):
    """The networks of the run's checkpoint on one view item, written out here from the
    official test's steps (frames 0, 2, ..., 22; 20 frames for pid; the crop / 255, 4x4
    block means down to 64)."""
    state = ckpt.load_checkpoint(run)
    cfg = DavsTrainConfig(**state["config"]["method_config"])
    nets = {}
    for name in ("mfcc_encoder", "lip_feature_encoder", "model_fusion", "ID_encoder"):
        nets[name] = make_network(name, cfg)
        nets[name].load_state_dict(state["modules"][name])
        nets[name].eval()

    def small(frames):
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
        return F.avg_pool2d(x, 256 // cfg.image_size)

    idx = np.arange(0, 23, 2)
    with torch.no_grad():
        a = nets["mfcc_encoder"](torch.from_numpy(item["mfcc"][idx])[None])
        v = nets["lip_feature_encoder"](small(item["frames"][idx])[None])
        la, lv = nets["model_fusion"](a)[0], nets["model_fusion"](v)[0]
        pid = nets["ID_encoder"](small(item["frames"][:20]))[0].reshape(-1)
    return {
        "audio": F.normalize(a.reshape(1, -1))[0], "video": F.normalize(v.reshape(1, -1))[0],
        "audio_logits": la, "video_logits": lv, "features": pid,
    }  # fmt: skip


def test_export_writes_row_aligned_files_that_the_eval_commands_score(
    calibrated, words_build, tmp_path
):
    out = tmp_path / "export"
    r = _export(calibrated, words_build, out)
    assert "avprep eval lipreading" in r.output
    logits, emb, feats = (_load(out / f) for f in ("logits.npz", "embeddings.npz", "features.npz"))
    info = json.loads((out / "export.json").read_text())
    assert info["stage"] == "joint" and info["split"] == "train" and info["method"] == "davs"

    items = [
        it
        for s in iter_samples(str(words_build), splits=["train"])
        for it in export_view(DavsTrainConfig(width=0.0625, image_size=64))(
            s, np.random.default_rng(0)
        )
    ]
    n = len(items)
    assert n == info["clips"] >= 5
    keys = sorted(it["key"] for it in items)
    words = {it["key"]: it["word_id"] for it in items}
    f = 256 // 16
    for arrays, shapes in (
        (logits, {"labels": (n,), "video_logits": (n, 500), "audio_logits": (n, 500),
                  "combined_logits": (n, 500), "keys": (n,)}),
        (emb, {"audio": (n, 12 * f), "video": (n, 12 * f), "labels": (n,), "keys": (n,)}),
        (feats, {"features": (n, 20 * f), "words": (n,), "keys": (n,)}),
    ):  # fmt: skip
        assert {k: v.shape for k, v in arrays.items()} == shapes
        assert list(arrays["keys"]) == keys
        assert all(np.isfinite(v).all() for k, v in arrays.items() if k != "keys")
    assert list(logits["labels"]) == [words[k] for k in keys] == list(feats["words"])
    assert logits["labels"].dtype == np.int64
    np.testing.assert_allclose(np.linalg.norm(emb["audio"], axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(
        logits["combined_logits"], logits["audio_logits"] + logits["video_logits"], rtol=1e-6
    )

    # row i = the same clip in every file: a direct forward of the checkpoint's networks
    def got_other(k, row):
        return (feats if k == "features" else emb)[k][row]

    for item in (items[0], items[-1]):
        row = keys.index(item["key"])
        want = _direct(calibrated, item)
        got = {
            "audio": emb["audio"][row], "video": emb["video"][row],
            "audio_logits": logits["audio_logits"][row],
            "video_logits": logits["video_logits"][row], "features": feats["features"][row],
        }  # fmt: skip
        for k, v in want.items():
            np.testing.assert_allclose(got[k], v.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
        other = (row + 1) % n  # another clip's rows differ (rows are not interchangeable)
        for k in ("audio", "video", "features"):
            assert np.abs(got_other(k, other) - want[k].numpy()).max() > 1e-3, k

    # deterministic: a second export (another batch size, two workers) gives the same rows
    again = tmp_path / "again"
    _export(calibrated, words_build, again, "train", "--batch-size", 3, "--workers", 2)
    for name in ("logits.npz", "embeddings.npz", "features.npz"):
        a, b = _load(out / name), _load(again / name)
        for k in a:
            if a[k].dtype.kind == "f":
                np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=f"{name}:{k}")
            else:
                assert np.array_equal(a[k], b[k]), f"{name}:{k}"
    _export(calibrated, words_build, tmp_path / "third")
    for name in ("logits.npz", "embeddings.npz", "features.npz"):
        a, b = _load(out / name), _load(tmp_path / "third" / name)
        assert all(np.array_equal(a[k], b[k]) for k in a), name

    # the eval commands on the files: finite JSON
    val = tmp_path / "val"
    _export(calibrated, words_build, val, "val")
    for args in (
        ("lipreading", out / "logits.npz"),
        ("retrieval", out / "embeddings.npz", "--device", "cpu"),
        ("word-info", out / "features.npz", "--test", val / "features.npz"),
    ):
        js = tmp_path / f"{args[0]}.json"
        _ok("eval", *args, "--json", js)
        summary = json.loads(js.read_text())["summary"]
        assert summary and all(
            np.isfinite(v) for v in summary.values() if isinstance(v, int | float)
        ), summary
    lip = json.loads((tmp_path / "lipreading.json").read_text())["summary"]
    assert lip["samples"] == n and lip["combined_from"] == "model"
    info = json.loads((tmp_path / "word-info.json").read_text())
    assert info["summary"]["train_samples"] == n and info["inputs"]["test"].endswith("npz")


def test_identity_stage_checkpoint_gives_the_pid_features_only(words_build, tmp_path):
    run = _train(words_build, tmp_path / "identity64", "identity", 1)
    out = tmp_path / "export"
    r = _export(run, words_build, out)
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "features.npz"]
    assert "no logits file: the checkpoint has no mfcc_encoder, lip_feature_encoder" in r.output
    feats = _load(out / "features.npz")
    assert feats["features"].shape[1] == 20 * 16 and len(feats["words"]) >= 5


def test_export_refuses_what_it_cannot_use(joint_run, words_build, demo_build, tmp_path):
    # a checkpoint of another method, and a file with no DAVS networks
    torch.save({"method": "cran", "stage": "cae", "modules": {}}, tmp_path / "cran.pt")
    r = _cli("eval", "davs-features", "--checkpoint", tmp_path / "cran.pt", "--data",
             words_build, "--split", "train", "--out", tmp_path / "o")  # fmt: skip
    assert r.exit_code != 0 and "is a cran checkpoint" in r.output
    torch.save({"modules": {"x": {"w": torch.zeros(2)}}}, tmp_path / "other.pt")
    r = _cli("eval", "davs-features", "--checkpoint", tmp_path / "other.pt", "--data",
             words_build, "--split", "train", "--out", tmp_path / "o")  # fmt: skip
    assert r.exit_code != 0 and "holds none of DAVS's" in r.output
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    r = _cli("eval", "davs-features", "--checkpoint", tmp_path / "junk.pt", "--data",
             words_build, "--split", "train", "--out", tmp_path / "o")  # fmt: skip
    assert r.exit_code != 0 and "cannot read DAVS checkpoint" in r.output
    # an empty split, and a build whose clips carry no word ids (the demo's talking clips)
    r = _cli("eval", "davs-features", "--checkpoint", joint_run, "--data", words_build,
             "--out", tmp_path / "o")  # fmt: skip
    assert r.exit_code != 0 and "no clips of split(s) test" in r.output
    r = _cli("eval", "davs-features", "--checkpoint", joint_run, "--data", demo_build,
             "--split", "train", "--out", tmp_path / "o")  # fmt: skip
    assert r.exit_code != 0 and "no_word_id" in r.output and "LRW word ids" in r.output
    assert not (tmp_path / "o").exists()


def test_official_layout_without_a_method_loads_at_full_size(tmp_path):
    """The official release records no method or config: full-size networks, the
    ``module.`` prefixes stripped, only the networks the file holds."""
    from models.davs.checkpoint import official_checkpoint
    from models.davs.export import load_davs_networks

    cfg = DavsTrainConfig()
    nets = {n: make_network(n, cfg) for n in ("mfcc_encoder", "model_fusion")}
    torch.save(official_checkpoint(nets, step=7), tmp_path / "official.pth.tar")
    loaded, got_cfg, info = load_davs_networks(tmp_path / "official.pth.tar")
    assert sorted(loaded) == ["mfcc_encoder", "model_fusion"]
    assert (got_cfg.width, got_cfg.image_size) == (1.0, 256)
    assert info["method"] == "davs (official file)"
    w = loaded["model_fusion"].fc_2.weight
    assert torch.equal(w, nets["model_fusion"].fc_2.weight) and not loaded["model_fusion"].training
