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
