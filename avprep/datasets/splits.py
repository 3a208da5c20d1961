"""Train/val/test splits: deterministic speaker-wise splits and the user's override file.

Split names are the same for every corpus: ``train``, ``val``, ``test`` (and
``pretrain`` for LRS3's pretrain set). Corpora with an official split keep it
(LRW folders, VoxCeleb lists and folders, LRS3 folders, TCD-TIMIT's published
test speakers). Corpora without one get the papers' speaker-wise split
(DVAE: GRID 28-3-3, CREMA-D 73-9-9 speakers). The papers do not say which
speakers went where, so :func:`speaker_split` fixes one reproducible choice:
every speaker of the corpus's *full* official speaker list is ordered by the
SHA-256 of ``"<salt>/<speaker>"``; the first ``n_train`` are train, the next
``n_val`` val, the rest test. It depends only on the speaker list and the salt,
not on which part of the corpus is on disk, so a partial download keeps each
speaker's split.

Override file (``--split-file``, read from ``options.extra["split_file"]``):
one entry per line, ``<clip or speaker><whitespace><split>``; ``#`` comments and
blank lines are ignored. ``<clip>`` is a path relative to the corpus root (with
or without extension); a speaker id (``s1``, ``1001``, ``id10270``, ``01M``)
moves all of that speaker's clips. Clip entries win over speaker entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from avprep import storage
from avprep.datasets.transcripts import SidecarError, normalise_clip_id, strip_extension

SPLIT_NAMES = ("train", "val", "test", "pretrain")


def speaker_order(speakers: Sequence[str], salt: str) -> list[str]:
    """``speakers`` sorted by SHA-256 of ``salt/speaker`` (ties impossible in practice)."""
    return sorted(speakers, key=lambda s: (hashlib.sha256(f"{salt}/{s}".encode()).hexdigest(), s))


def speaker_split(
    speakers: Sequence[str], counts: tuple[int, int, int], salt: str
) -> dict[str, str]:
    """Speaker -> split with exactly ``counts`` = (train, val, test) speakers."""
    if len(set(speakers)) != len(speakers):
        raise ValueError("speaker list has duplicates")
    if sum(counts) != len(speakers):
        raise ValueError(f"split counts {counts} do not add up to {len(speakers)} speakers")
    n_train, n_val, _ = counts
    out = {}
    for i, s in enumerate(speaker_order(speakers, salt)):
        out[s] = "train" if i < n_train else "val" if i < n_train + n_val else "test"
    return out


@dataclass
class SplitOverrides:
    """Entries of a user's split file: clip paths and speaker ids -> split."""

    source: str = ""
    entries: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str) -> SplitOverrides:
        return cls.parse(storage.read_text(path), source=path)

    @classmethod
    def parse(cls, text: str, source: str = "<split file>") -> SplitOverrides:
        out = cls(source=source)
        for n, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise SidecarError(
                    f"{source}:{n}: expected '<clip or speaker> <split>', got {raw!r}"
                )
            key, split = normalise_clip_id(parts[0]), parts[1]
            if split not in SPLIT_NAMES:
                raise SidecarError(
                    f"{source}:{n}: unknown split {split!r} (use one of {', '.join(SPLIT_NAMES)})"
                )
            for k in {key, strip_extension(key)}:
                if out.entries.get(k, split) != split:
                    raise SidecarError(f"{source}:{n}: {key!r} is given two different splits")
                out.entries[k] = split
        return out

    def lookup(self, relpath: str, speaker: str | None = None) -> str | None:
        rel = normalise_clip_id(relpath)
        for k in (rel, strip_extension(rel)):
            if k in self.entries:
                return self.entries[k]
        if speaker is not None and speaker in self.entries:
            return self.entries[speaker]
        return None


def load_overrides(extra: dict[str, str]) -> SplitOverrides | None:
    """The split file named by ``extra["split_file"]``, if any."""
    path = extra.get("split_file")
    return SplitOverrides.load(path) if path else None


def resolve_split(
    overrides: SplitOverrides | None, relpath: str, speaker: str | None, default: str
) -> str:
    """The override for this clip or speaker, else ``default``."""
    if overrides is not None:
        found = overrides.lookup(relpath, speaker)
        if found is not None:
            return found
    return default
