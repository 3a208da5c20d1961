"""The worker image cannot be built here (no Docker engine): check it up to that boundary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import apache_beam

DOCKERFILE = Path(__file__).resolve().parents[1] / "docker" / "Dockerfile"


def test_base_image_matches_the_beam_sdk_we_launch_with():
    base = re.search(r"^FROM apache/beam_python(\d+\.\d+)_sdk:(\S+)", DOCKERFILE.read_text(), re.M)
    assert base, "FROM line"
    assert base.group(2) == apache_beam.__version__
    assert base.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_copied_paths_exist():
    root = DOCKERFILE.parents[1]
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (root / src).exists(), src


def test_python_snippets_the_image_runs_work_here(tmp_path):
    snippets = re.findall(r'python -c "([^"]+)"', DOCKERFILE.read_text())
    assert len(snippets) >= 2
    for code in snippets:
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
