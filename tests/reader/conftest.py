from __future__ import annotations

import pytest
from reader_fixtures import build_cremad, build_demo, build_identity, synthetic_shards


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
