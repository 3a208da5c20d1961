"""Fixture corpora, written once per test session (real media, exact real layouts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datasets import corpora


@pytest.fixture(scope="session")
def corpus_root(tmp_path_factory):
    """``corpus_root(name)`` -> the root of that fixture corpus (made on first use)."""
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = corpora.make(name, tmp_path_factory.mktemp(f"corpus_{name}"))
        return made[name]

    return get
