"""The real DAVS trainer (models/davs, small width) through the core: exact resume of the
identity (pid) stage on the identity-face fixture build and of the joint stage on the demo's
LRW-style word clips, with samples written."""

from __future__ import annotations

import pytest
import torch

from models.training import checkpoint as ckpt
from models.training.config import resolve_config
from models.training.loop import train

SMALL = ["width=0.0625", "batch_size=2"]


def _run(data, out, stage, steps, resume=False, **values):
    train_values = {
        "data": (str(data),), "steps": steps, "num_workers": 0, "device": "cpu",
        "progress": False, "val_every": 0, "sample_every": 0, "log_every": 1,
        "checkpoint_every": 2, **values,
    }  # fmt: skip
    run = resolve_config("davs", stage=stage, train_values=train_values, sets=SMALL)
    return train(run, out, resume=resume)


def _assert_same_state(a_dir, b_dir):
    a, b = ckpt.load_checkpoint(a_dir), ckpt.load_checkpoint(b_dir)
    assert set(a["modules"]) == set(b["modules"])
    for name, sa in a["modules"].items():
        for k, v in sa.items():
            assert torch.equal(v, b["modules"][name][k]), (name, k)
    for name, oa in a["optimizers"].items():
        for i, st in oa["state"].items():
            for k, v in st.items():
                assert torch.equal(
                    torch.as_tensor(v), torch.as_tensor(b["optimizers"][name]["state"][i][k])
                )


@pytest.mark.slow
def test_davs_identity_stage_resumes_exactly(identity_build, tmp_path):
    _run(identity_build, tmp_path / "straight", "identity", 4)
    _run(identity_build, tmp_path / "split", "identity", 2)
    result = _run(identity_build, tmp_path / "split", "identity", 4, resume=True)
    assert result.resumed_from == 2 and result.step == 4
    _assert_same_state(tmp_path / "straight", tmp_path / "split")


@pytest.fixture(scope="module")
def demo_words(tmp_path_factory):
    """The demo's LRW-style word clips (word ids), built with the DAVS feature only."""
    from avprep.config import BuildConfig
    from avprep.datasets.demo_media import make_demo_corpus
    from pipelines.build import run_build

    base = tmp_path_factory.mktemp("davs_words")
    root = make_demo_corpus(base / "corpus", parts=("words",))
    out = base / "build"
    run_build(
        BuildConfig(
            dataset="demo", root=str(root), out=str(out), face_backend="dlib",
            features=("mfcc_davs",), aligner="none", shard_size=4,
            discover_options={"parts": "words"},
        )
    )  # fmt: skip
    return out


@pytest.mark.slow
def test_davs_joint_stage_resumes_exactly_and_shows_samples(demo_words, tmp_path):
    import av

    _run(demo_words, tmp_path / "straight", "joint", 4, sample_every=4)
    _run(demo_words, tmp_path / "split", "joint", 2)
    _run(demo_words, tmp_path / "split", "joint", 4, resume=True)
    _assert_same_state(tmp_path / "straight", tmp_path / "split")
    with av.open(str(tmp_path / "straight/samples/step-00000004-0.mp4")) as c:
        assert sorted(s.type for s in c.streams) == ["audio", "video"]
