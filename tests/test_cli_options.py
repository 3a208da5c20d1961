"""Every numeric option is validated at the CLI, with a message naming it (issue 19, case 16)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from avprep.cli import main

BUILD_BAD = [
    ("--limit", "0"), ("--limit", "-3"), ("--workers", "0"), ("--workers", "-1"),
    ("--shard-size", "0"), ("--max-seconds", "-1"), ("--max-seconds", "0"),
    ("--max-seconds", "nan"), ("--max-seconds", "inf"), ("--max-side", "0"),
    ("--max-side", "-640"), ("--frame-side", "0"), ("--min-frames", "0"),
    ("--face-detect-every", "0"), ("--face-min-size", "-1"), ("--face-max-yaw", "nan"),
    ("--face-max-pitch", "-5"), ("--face-max-roll", "400"), ("--noise-db", "nan"),
    ("--noise-db", "-inf"), ("--noise-seed", "-1"), ("--align-batch", "0"), ("--mfa-jobs", "0"),
]  # fmt: skip


@pytest.mark.parametrize("option, value", BUILD_BAD, ids=[f"{o}={v}" for o, v in BUILD_BAD])
def test_build_refuses_bad_numbers_naming_the_option(tmp_path, option, value):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["build", "demo", "--out", str(out), f"{option}={value}"])
    assert r.exit_code == 2, r.output
    assert f"Invalid value for '{option}'" in r.output
    assert not out.exists()  # refused before anything ran


@pytest.mark.parametrize(
    "args, option",
    [
        (["select-samples", "x", "--k", "0"], "--k"),
        (["select-samples", "x", "--n-min", "-1"], "--n-min"),
        (["select-samples", "x", "--samples-per-shard", "0"], "--samples-per-shard"),
        (["select-samples", "x", "--seed", "-2"], "--seed"),
        (["align", "--root", ".", "--out", "o", "--batch-size", "0"], "--batch-size"),
        (["inspect", "x", "--samples", "-1"], "--samples"),
    ],
)
def test_other_commands_refuse_bad_numbers(args, option):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and f"Invalid value for '{option}'" in r.output, r.output


def test_crop_preset_choices_are_the_encoders():
    from avprep.cli import X264_PRESET_NAMES
    from avprep.face.crop_codec import X264_PRESETS

    assert X264_PRESET_NAMES == X264_PRESETS


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--face-crop-preset", "turbo"], "Invalid value for '--face-crop-preset'"),
        (["--face-crop-preset", "faster", "--face-crop-format", "jpg"], "not with"),
    ],
)
def test_build_refuses_bad_crop_presets(tmp_path, extra, message):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["build", "demo", "--out", str(out), *extra])
    assert r.exit_code == 2 and message in r.output, r.output
    assert not out.exists()
