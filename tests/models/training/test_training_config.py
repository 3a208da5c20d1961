"""Run configuration: typed --set parsing, config files, unknown keys named; bad builds fail
before any work, naming the build option; the `avprep train` CLI (help without torch)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch
from click.testing import CliRunner

from avprep.cli import main
from models.training.config import (
    ConfigError,
    TrainConfig,
    parse_sets,
    parse_value,
    resolve_config,
)
from tests.models.training.tiny_method import register_tiny, unregister_tiny


@pytest.fixture(autouse=True)
def tiny():
    register_tiny()
    yield
    unregister_tiny()


def test_set_values_are_parsed_by_field_type():
    run = resolve_config(
        "tiny",
        sets=[
            "steps=12", "lr=5e-4", "train.compile=true", "splits=train,val",
            "prefetch_factor=none", "tiny.width=4", "method.record_keys=yes",
            'data=["a", "b"]',
        ],
    )  # fmt: skip
    t, m = run.train, run.method_config
    assert (t.steps, t.compile, t.splits, t.prefetch_factor, t.data) == (
        12, True, ("train", "val"), None, ("a", "b"),
    )  # fmt: skip
    assert (m.lr, m.width, m.record_keys) == (5e-4, 4, True)


@pytest.mark.parametrize(
    "pair, message",
    [
        ("stepz=3", "unknown --set key 'stepz' \\(did you mean steps"),
        ("steps=many", "steps: expected int"),
        ("compile=maybe", "compile: expected true or false"),
        ("train.lr=1", "unknown --set train key 'lr'"),
        ("nokey", "expected KEY=VALUE"),
        ("other.lr=1", "prefix must be"),
        ("device=tpu", "bad value for device='tpu'"),
        ("steps=0", "bad value for steps=0"),
    ],
)
def test_bad_set_is_named(pair, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config("tiny", sets=[pair])


def test_ambiguous_key_needs_a_prefix():
    @dataclass
    class Clash:
        stage: str = "main"
        seed: int = 1

    with pytest.raises(ConfigError, match="write train.seed= or m.seed="):
        parse_sets(["seed=3"], TrainConfig(), Clash(), "m")
    assert parse_sets(["m.seed=3", "train.seed=4"], TrainConfig(), Clash(), "m") == (
        {"seed": 4}, {"seed": 3},
    )  # fmt: skip
    assert parse_value("3", int | None) == 3 and parse_value("null", int | None) is None
    assert parse_value('{"a": 1}', dict) == {"a": 1}


def test_config_file_layers_and_unknown_sections(tmp_path):
    good = tmp_path / "c.json"
    good.write_text(json.dumps({"train": {"steps": 7}, "method_config": {"lr": 0.5}}))
    run = resolve_config("tiny", config_file=str(good), sets=["steps=9"], stage="decoder")
    assert (run.train.steps, run.method_config.lr, run.stage) == (9, 0.5, "decoder")
    # a saved run config is a valid --config
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(run.to_json()))
    again = resolve_config("tiny", config_file=str(saved))
    assert again.train == run.train and again.method_config == run.method_config
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": {"stepz": 1}}))
    with pytest.raises(ConfigError, match="unknown train key 'stepz'"):
        resolve_config("tiny", config_file=str(bad))
    bad.write_text(json.dumps({"trian": {}}))
    with pytest.raises(ConfigError, match="unknown section"):
        resolve_config("tiny", config_file=str(bad))
    with pytest.raises(ConfigError, match="no stage 'x'"):
        resolve_config("tiny", stage="x")
    assert TrainConfig().device == "auto"


def test_bad_build_fails_before_any_work(demo_build, tmp_path):
    build = tmp_path / "nofeatures"
    shutil.copytree(demo_build, build)
    info = json.loads((build / "build.json").read_text())
    info["config"]["features"] = ["logspec_dvae"]
    info["config"]["face_backend"] = "none"
    (build / "build.json").write_text(json.dumps(info))
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["train", "tiny", "--data", str(build), "--out", str(out), "--steps", "1",
               "--device", "cpu", "--workers", "0"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "--features mfcc_davs" in result.output and "--face-backend dlib" in result.output
    assert not out.exists()  # nothing was started
    result = CliRunner().invoke(
        main, ["train", "tiny", "--data", str(demo_build), "--split", "val", "--out", str(out)]
    )
    assert result.exit_code == 1 and "no clips of split(s) val" in result.output
    assert "pick one with --split" in result.output


def test_cli_trains_resumes_and_reports(demo_build, tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        "tiny",
        "--data",
        str(demo_build),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--workers",
        "0",
        "--no-progress",
        "--set",
        "sample_every=0",
        "--set",
        "val_every=0",
    ]
    result = CliRunner().invoke(main, [*args, "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert "to step 1" in result.output
    result = CliRunner().invoke(main, [*args, "--steps", "2"])
    assert result.exit_code == 1 and "--resume" in result.output
    # --resume alone takes the data and settings from the run folder
    result = CliRunner().invoke(
        main, ["train", "tiny", "--out", str(out), "--resume", "--steps", "2", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "to step 2" in result.output
    result = CliRunner().invoke(main, ["train", "nosuch", "--data", "x"])
    assert result.exit_code == 2 and "unknown method 'nosuch'" in result.output
    result = CliRunner().invoke(main, [*args, "--set", "stepz=1"])
    assert result.exit_code == 1 and "did you mean steps" in result.output


def test_train_help_does_not_import_torch():
    code = (
        "import sys\nfrom avprep.cli import main\ntry:\n    main(['train', '--help'])\n"
        "except SystemExit:\n    pass\nassert 'torch' not in sys.modules, 'torch imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "torchrun" in proc.stdout and "--resume" in proc.stdout


def test_unusable_data_and_missing_device_are_named(demo_build, tmp_path):
    args = ["train", "tiny", "--data", str(demo_build), "--device", "cpu", "--workers", "0",
            "--no-progress", "--steps", "1"]  # fmt: skip
    # every demo clip is shorter than 500 frames: the view skips them all
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a"), "--set", "seq_len=500"])
    assert result.exit_code == 1 and "a whole epoch gave no batch" in result.output
    assert "too_short" in result.output
    if not torch.cuda.is_available():
        result = CliRunner().invoke(
            main, [*args[:4], "--device", "cuda", "--out", str(tmp_path / "b")]
        )
        assert result.exit_code == 1 and "CUDA is not available" in result.output
