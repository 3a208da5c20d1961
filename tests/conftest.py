"""Shared fixtures: real media composed offline (astronaut face + LibriVox speech)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avprep.datasets.demo_media import face_photo, make_demo_corpus, speech_assets
from tests.reader.reader_fixtures import build_cremad, build_demo, build_identity, synthetic_shards


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Never touch the user's ~/.avprep during tests."""
    monkeypatch.setenv("AVPREP_HOME", str(tmp_path_factory.getbasetemp() / "avprep_home"))


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    # the talking clips only (6 videos + transcripts): what `build folder` tests read
    return make_demo_corpus(tmp_path_factory.mktemp("demo_corpus"), parts=("talking",))


@pytest.fixture(scope="session")
def speech():
    return speech_assets()[0]


@pytest.fixture(scope="session")
def face() -> np.ndarray:
    return face_photo()


# Shards built by the real pipeline, shared by the reader (tests/reader) and the torch
# data loading (tests/models) tests; each is built once per test process, on first use.
@pytest.fixture(scope="session")
def reader_base(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "reader_shards"


@pytest.fixture(scope="session")
def demo_build(reader_base):
    return build_demo(reader_base)


@pytest.fixture(scope="session")
def cremad_build(reader_base):
    return build_cremad(reader_base)


@pytest.fixture(scope="session")
def synthetic(reader_base):
    return synthetic_shards(reader_base)


@pytest.fixture(scope="session")
def identity_build(reader_base):
    return build_identity(reader_base)
