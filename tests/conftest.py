"""Shared fixtures: real media composed offline (astronaut face + LibriVox speech)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avprep.demo import face_photo, make_demo_corpus, speech_assets


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.avprep during tests."""
    monkeypatch.setenv("AVPREP_HOME", str(tmp_path_factory.getbasetemp() / "avprep_home"))


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    return make_demo_corpus(tmp_path_factory.mktemp("demo_corpus"))


@pytest.fixture(scope="session")
def speech():
    return speech_assets()[0]


@pytest.fixture(scope="session")
def face() -> np.ndarray:
    return face_photo()
