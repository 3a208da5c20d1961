"""The stage interface that ``avprep build`` composes.

A stage loads its models once (``setup``, called once per worker) and then
processes clips. It may add arrays, files, metadata and manifest columns to the
:class:`~avprep.clips.ClipWork`, or raise :class:`~avprep.clips.ClipRejected`.
Stages never import Beam: ``pipelines/`` wraps them.

Every stage has the whole interface (this base class): ``preflight`` checks what
``setup`` would need without loading it, and ``process_batch`` takes several clips at
once. A stage whose batch is more than a loop (the MFA aligner: one ``mfa`` process per
batch) says so with ``batches = True``; the processor then holds clips back for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import ClassVar

from avprep.clips import ClipRejected, ClipWork


@cache
def package_version(name: str) -> str:
    """An installed package's version for a stage's ``versions()``, read once per process
    (some stages name theirs in every sample, and reading package metadata costs ~0.4 ms);
    ``"not installed"`` when it is not."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


class Stage:
    """Base of every build stage; a subclass sets ``name`` and implements ``process``."""

    name: str
    # True: ``process_batch`` does better than one clip at a time, so the processor runs
    # this stage on ``align_batch`` clips together, after the other stages of each clip
    batches: ClassVar[bool] = False

    def setup(self) -> None:
        """Load models/resources. Called once per worker before any clip."""

    def preflight(self) -> None:
        """Fail now on what ``setup`` would fail on (a missing model file or tool), loading
        no more than that takes: the build driver calls this, the workers ``setup``."""
        self.setup()

    def versions(self) -> dict[str, str]:
        """Library/model versions this stage's output depends on (for build.json)."""
        return {}

    def process(self, work: ClipWork) -> None:
        """Add this stage's outputs to ``work`` or raise ClipRejected."""
        raise NotImplementedError

    def process_batch(self, works: Sequence[ClipWork]) -> list[ClipRejected | None]:
        """``process`` for several clips; per clip, None when its outputs were added, else
        its ClipRejected. This default takes them one at a time."""
        results: list[ClipRejected | None] = []
        for work in works:
            try:
                self.process(work)
                results.append(None)
            except ClipRejected as e:
                results.append(e)
        return results
