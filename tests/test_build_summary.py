"""`avprep inspect` (avprep.build_summary) on a real build: counts, and what a sample holds."""

from __future__ import annotations

import json

from click.testing import CliRunner

from avprep.build_summary import describe_build
from avprep.cli import main


def test_summary_counts_and_describes_samples(demo_build):
    info = json.loads((demo_build / "build.json").read_text())
    text = describe_build(str(demo_build), n_samples=2)
    lines = text.splitlines()
    assert lines[0] == f"build {demo_build}"
    version, n_shards = info["avprep_version"], len(info["shards"])
    assert lines[1] == f"  dataset demo  avprep {version}  shards {n_shards}"
    assert lines[2] == "  clips 6: 6 ok, 0 rejected"
    samples = [ln for ln in lines if ln.startswith("  sample ")]
    assert len(samples) == 2 and all("frames," in ln for ln in samples)
    # arrays by dtype and shape, the rest by size; crops are MP4 members here
    assert any(ln.strip().startswith("mfcc_davs.npy: float32 (") for ln in lines)
    assert any(ln.strip().startswith("flac: ") and ln.endswith(" bytes") for ln in lines)
    assert any(ln.strip().startswith("crop256.mp4: ") for ln in lines)


def test_inspect_command_prints_the_summary(demo_build):
    result = CliRunner().invoke(main, ["inspect", str(demo_build), "--samples", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip("\n") == describe_build(str(demo_build), n_samples=0)
    assert "  sample " not in result.output


def test_a_build_name_means_the_build_in_avprep_home(demo_build, monkeypatch, tmp_path):
    """`avprep inspect demo` after `avprep build demo` (no --out): the name is no folder
    here, so it means $AVPREP_HOME/demo, as `train --data demo` does."""
    monkeypatch.setenv("AVPREP_HOME", str(demo_build.parent))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["inspect", demo_build.name, "--samples", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip("\n") == describe_build(str(demo_build), n_samples=0)
    (tmp_path / demo_build.name).mkdir()  # a folder of that name here wins
    result = CliRunner().invoke(main, ["inspect", demo_build.name])
    assert result.exit_code == 1 and "build.json not found" in result.output


def _invoke(args):
    result = CliRunner().invoke(main, args)
    # a clear message (click's exit 1 or usage error 2), never a traceback
    assert isinstance(result.exception, SystemExit), result.exception
    return result


def test_missing_builds_are_clear_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("AVPREP_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["inspect", "demo"], ["report", "demo"], ["inspect", "--dataset", "demo"],
                 ["report", "--dataset", "demo"], ["select-samples", "demo"]):  # fmt: skip
        result = _invoke(args)
        assert result.exit_code == 1, (args, result.output)
        assert "demo" in result.output and "run `avprep build demo` first" in result.output
    result = _invoke(["inspect", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no build folder" in result.output
    assert "check the path" in result.output
    for args in (["inspect", str(empty)], ["report", str(empty)],
                 ["select-samples", "x", "--build", str(empty)]):  # fmt: skip
        result = _invoke(args)
        assert result.exit_code == 1 and "not a finished avprep build" in result.output, args
    result = _invoke(["inspect", str(empty), "--dataset", "demo"])
    assert result.exit_code == 2 and "not both" in result.output
