"""DAVS views, build checks and stages on a real build: the demo's word clips and identity
photos (built once for this module)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from avprep.reader import iter_samples
from models.data import collate_items
from models.davs.build_check import check_build
from models.davs.trainer import DavsIdentityTrainer, DavsJointTrainer
from models.davs.view import (
    DavsConfig,
    DavsIdentityView,
    DavsTrainView,
    DavsView,
    time_major_mfcc,
)
from tests.models.davs.davs_fixtures import build_demo_words, cpu_context, tiny_config


@pytest.fixture(scope="module")
def words_build(tmp_path_factory):
    return build_demo_words(tmp_path_factory.mktemp("davs_data"))


def _items(build, view, seed=0):
    rng = np.random.default_rng(seed)
    return [it for sample in iter_samples(str(build)) for it in view(sample, rng)]


def _info(build):
    return json.loads((build / "build.json").read_text())


def test_train_view_gives_time_major_mfcc_audio_and_word_clips_only(words_build):
    view = DavsTrainView(DavsConfig(seq_len=24))
    items = _items(words_build, view)
    assert items, view.skipped
    assert view.skipped["kind_identity"] > 0  # the identity photos are not clips
    it = items[0]
    assert it["frames"].shape == (24, 256, 256, 3) and it["frames"].dtype == np.uint8
    assert it["mfcc"].shape == (24, 20, 12) and it["mfcc"].dtype == np.float32
    assert it["audio"].shape == (24 * 640,) and it["audio"].dtype == np.float32
    assert np.abs(it["audio"]).max() > 0
    assert all(i["word_id"] >= 0 for i in items)
    plain = _items(words_build, DavsView(DavsConfig(seq_len=24)))[0]
    assert plain["key"] == it["key"]
    assert np.array_equal(time_major_mfcc(plain["mfcc"]), it["mfcc"])  # the same windows


def test_check_build_names_the_fixing_option(words_build):
    info = _info(words_build)
    for stage in ("joint", "word", "identity"):
        assert check_build(info, stage) == [], stage
    cremad = {**info, "config": {**info["config"], "dataset": "cremad"}}
    assert "avprep build lrw" in " ".join(check_build(cremad, "joint"))
    assert "avprep build identity" in " ".join(check_build(cremad, "identity"))
    bare = {
        "config": {"dataset": "lrw", "face_backend": "none", "features": []},
        "counts": {"ok": 3},
    }
    text = " ".join(check_build(bare, "word"))
    assert "--face-backend dlib" in text and "--features mfcc_davs" in text


def test_check_build_reads_the_davs_crop_size_by_either_name():
    """The DAVS crop size under its current face option name and under the one older
    build.json files hold (``crop_size``)."""
    base = {"dataset": "lrw", "face_backend": "dlib", "features": ["mfcc_davs"]}
    for key in ("crop_size_davs", "crop_size"):
        info = {"config": {**base, "face_options": {key: 128}}}
        assert any("128x128" in p for p in check_build(info, "identity")), key
        info = {"config": {**base, "face_options": {key: 256}}}
        assert not any("crops are" in p for p in check_build(info, "identity")), key


def test_stages_step_on_the_build(words_build):
    torch.manual_seed(0)
    ctx = cpu_context(data=(str(words_build),))
    trainer = DavsIdentityTrainer(tiny_config(stage="identity", image_size=256), ctx)
    view = trainer.make_view()
    assert isinstance(view, DavsIdentityView)
    items = _items(words_build, view)
    assert trainer.config.person_classes == max(it["person_id"] for it in items) + 1
    batch = collate_items(items[:2])
    out = trainer.train_step(batch, 0)
    assert np.isfinite(out["person_ce"])
    with pytest.raises(ValueError, match="person ids"):
        trainer.train_step({**batch, "person_id": torch.tensor([-1, 0])}, 1)

    joint = DavsJointTrainer(tiny_config(image_size=256, word_classes=500), ctx)
    batch = collate_items(_items(words_build, joint.make_view())[:2])
    out = joint.train_step(batch, 0)
    assert all(np.isfinite(v) for v in out.values())


def _train(args):
    from click.testing import CliRunner

    from avprep.cli import main

    result = CliRunner().invoke(main, ["train", "davs", "--no-progress", "--workers", "0", *args])
    assert result.exit_code == 0, result.output
    return result


def test_avprep_train_davs_runs_end_to_end(words_build, tmp_path):
    """`avprep train davs` on the demo's word clips: checkpoints, logs, samples with sound;
    the checkpoint drives the official-test inference; the pid stage runs on the photos."""
    from models.davs.inference import generate, load_generator

    run = tmp_path / "joint"
    _train([
        "--data", str(words_build), "--out", str(run), "--steps", "2", "--batch-size", "2",
        "--set", "width=0.0625", "--set", "sample_every=2", "--set", "checkpoint_every=2",
        "--set", "log_every=1",
    ])  # fmt: skip
    ckpt = run / "checkpoints" / "step-00000002.pt"
    assert ckpt.exists() and (run / "samples" / "step-00000002.png").exists()
    assert list((run / "samples").glob("step-00000002*.mp4"))
    logged = [json.loads(line) for line in (run / "scalars.jsonl").read_text().splitlines()]
    assert any("l1_audio" in row for row in logged)

    item = _items(words_build, DavsTrainView(DavsConfig(seq_len=24)))[0]
    generator = load_generator(ckpt, width=0.0625)
    frames = generate(item["identity_frame"], item["mfcc"][:6], generator)
    assert frames.shape == (6, 256, 256, 3)

    _train([
        "--stage", "identity", "--data", str(words_build), "--out", str(tmp_path / "pid"),
        "--steps", "1", "--batch-size", "2", "--set", "width=0.0625",
    ])  # fmt: skip
    assert list((tmp_path / "pid" / "checkpoints").glob("step-*.pt"))
