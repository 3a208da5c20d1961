"""DAVS views and the build check on real fixture builds (the reader's session builds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from davs_fixtures import cpu_context, tiny_config

from avprep.reader import DavsView, iter_samples
from models.davs.build_check import check_build
from models.davs.trainer import DavsIdentityTrainer
from models.davs.view import DavsConfig, DavsIdentityView, DavsTrainView, time_major_mfcc


def _info(build):
    return json.loads((build / "build.json").read_text())


def _items(build, view, seed=0):
    rng = np.random.default_rng(seed)
    return [it for sample in iter_samples(str(build)) for it in view(sample, rng)]


def test_train_view_gives_time_major_mfcc_and_audio(demo_build):
    view = DavsTrainView(DavsConfig(seq_len=24))
    items = _items(demo_build, view)
    assert items, view.skipped
    it = items[0]
    assert it["frames"].shape == (24, 256, 256, 3) and it["frames"].dtype == np.uint8
    assert it["mfcc"].shape == (24, 20, 12) and it["mfcc"].dtype == np.float32
    assert it["audio"].shape == (24 * 640,) and it["audio"].dtype == np.float32
    assert np.abs(it["audio"]).max() > 0
    plain = _items(demo_build, DavsView(DavsConfig(seq_len=24)))[0]
    assert plain["key"] == it["key"]
    assert np.array_equal(time_major_mfcc(plain["mfcc"]), it["mfcc"])  # the same windows


def test_check_build_names_the_fixing_option(demo_build, identity_build):
    demo = _info(demo_build)
    problems = check_build(demo, "joint")
    assert len(problems) == 1 and "avprep build lrw" in problems[0]  # demo has no word ids
    assert check_build(_info(identity_build), "identity") == []
    bare = {
        "config": {"dataset": "lrw", "face_backend": "none", "features": []},
        "counts": {"ok": 3},
    }
    text = " ".join(check_build(bare, "word"))
    assert "--face-backend dlib" in text and "--features mfcc_davs" in text
    assert "avprep build identity" in " ".join(check_build(demo, "identity"))


def test_identity_stage_steps_on_an_identity_build(identity_build):
    torch.manual_seed(0)
    ctx = cpu_context(data=(str(identity_build),))
    trainer = DavsIdentityTrainer(tiny_config(stage="identity", image_size=256), ctx)
    view = trainer.make_view()
    assert isinstance(view, DavsIdentityView)
    items = _items(identity_build, view)
    persons = {it["person_id"] for it in items}
    assert trainer.config.person_classes == max(persons) + 1
    batch = {
        "image": torch.from_numpy(np.stack([it["image"] for it in items[:2]])),
        "person_id": torch.tensor([it["person_id"] for it in items[:2]]),
    }
    out = trainer.train_step(batch, 0)
    assert np.isfinite(out["person_ce"])
    with pytest.raises(ValueError, match="person ids"):
        trainer.train_step({**batch, "person_id": torch.tensor([-1, 0])}, 1)
