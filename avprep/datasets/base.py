"""The dataset adapter interface and registry.

An adapter walks a corpus root laid out *as the corpus is distributed* and
yields :class:`~avprep.clips.ClipRef` objects. It never decodes media. Paths may
be local or remote (``gs://``): use :mod:`avprep.storage` for listing/reading.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from avprep.clips import ClipRef


@dataclass
class DiscoverOptions:
    """Slicing options every adapter honours (``--limit``, ``--split``, ``--speakers``)."""

    limit: int | None = None
    splits: tuple[str, ...] = ()
    speakers: tuple[str, ...] = ()
    transcripts: str | None = None  # sidecar transcript file (corpora without transcripts)
    extra: dict[str, str] = field(default_factory=dict)

    def keep(self, ref: ClipRef) -> bool:
        if self.splits and ref.split not in self.splits:
            return False
        if self.speakers and (ref.speaker or "") not in self.speakers:
            return False
        return True


class DatasetAdapter(ABC):
    """Base class: subclasses set the class attributes and implement ``discover``."""

    name: ClassVar[str]
    description: ClassVar[str]
    layout: ClassVar[str]  # example paths, shown by `avprep datasets` and on a wrong root
    labels: ClassVar[tuple[str, ...]]
    needs_root: ClassVar[bool] = True

    @abstractmethod
    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        """Yield every clip under ``root``; raise EmptyCorpusError when there is none."""

    def iter_clips(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        """``discover`` filtered by split/speakers and cut at ``limit``."""
        n = 0
        for ref in self.discover(root, options):
            if not options.keep(ref):
                continue
            yield ref
            n += 1
            if options.limit is not None and n >= options.limit:
                return


class EmptyCorpusError(Exception):
    """The root holds nothing this adapter recognises; the message shows the expected layout."""


# filled by ``@register`` as each adapter module is imported; ``avprep.datasets`` imports them
# all and offers ``get_adapter`` (here it would import the package back: an import circle)
REGISTRY: dict[str, type[DatasetAdapter]] = {}


def register(cls: type[DatasetAdapter]) -> type[DatasetAdapter]:
    REGISTRY[cls.name] = cls
    return cls
