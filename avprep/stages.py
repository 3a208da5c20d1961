"""The stage interface that ``avprep build`` composes.

A stage loads its models once (``setup``, called once per worker) and then
processes clips one at a time. It may add arrays, files, metadata and manifest
columns to the :class:`~avprep.clips.ClipWork`, or raise
:class:`~avprep.clips.ClipRejected`. Stages never import Beam: ``pipelines/``
wraps them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from avprep.clips import ClipWork


@runtime_checkable
class Stage(Protocol):
    name: str

    def setup(self) -> None:
        """Load models/resources. Called once per worker before any clip."""

    def process(self, work: ClipWork) -> None:
        """Add this stage's outputs to ``work`` or raise ClipRejected."""

    def versions(self) -> dict[str, str]:
        """Library/model versions this stage's output depends on (for build.json)."""
