"""Any tree of videos, with optional same-name ``.txt`` transcripts.

- clips: every file with a video extension (see ``VIDEO_EXTENSIONS``), recursively;
- transcript: ``clip.txt`` beside ``clip.mp4``: plain text, or LRW/LRS3-style with a
  ``Text:`` line (only that line is used);
- split: the first folder under the root when it is named like a split
  (train, val, valid, dev, test, pretrain, trainval), else ``train``; a ``--split-file``
  entry (clip path relative to the root, or speaker) overrides it;
- speaker: the name of the folder holding the clip (none for clips at the root).
"""

from __future__ import annotations

from collections.abc import Iterator

from avprep import storage
from avprep.clips import ClipError, ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, EmptyCorpusError, register
from avprep.datasets.splits import SplitOverrides, load_overrides, resolve_split
from avprep.datasets.transcripts import TranscriptEncodingError, read_transcript_file
from avprep.keys import clip_key

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".mpg", ".mpeg", ".flv", ".webm", ".m4v")
SPLIT_NAMES = {"train", "val", "valid", "dev", "test", "pretrain", "trainval"}


def read_transcript(path: str) -> str | None:
    """A sidecar transcript: the ``Text:`` line if there is one, else the whole text."""
    if not storage.exists(path):
        return None
    text = read_transcript_file(path)  # TranscriptEncodingError: rejected by the caller
    for line in text.splitlines():
        if line.startswith("Text:"):
            return line[len("Text:") :].strip()
    return " ".join(text.split()) or ""


def discover_folder(
    dataset: str, root: str, overrides: SplitOverrides | None = None
) -> Iterator[ClipRef]:
    """Every video under ``root``; split from a ``train/val/test`` top folder (else
    ``train``), overridden by the ``--split-file`` entries (clip path relative to ``root``,
    or speaker = parent folder)."""
    for path in storage.walk_files(root, VIDEO_EXTENSIONS):
        rel = storage.relpath(path, root)
        parts = rel.split("/")
        split = parts[0] if len(parts) > 1 and parts[0] in SPLIT_NAMES else "train"
        speaker = parts[-2] if len(parts) > 1 and parts[-2] not in SPLIT_NAMES else None
        split = resolve_split(overrides, rel, speaker, split)
        base = path.rsplit(".", 1)[0]
        transcript = error = None
        try:
            transcript = read_transcript(base + ".txt")
        except TranscriptEncodingError as e:
            error = ClipError("transcript_encoding", str(e))
        yield ClipRef(
            key=clip_key(dataset, rel),
            dataset=dataset,
            split=split,
            source=path,
            speaker=speaker,
            transcript=transcript,
            error=error,
        )


@register
class FolderAdapter(DatasetAdapter):
    name = "folder"
    description = "Any folder tree of videos, with optional same-name .txt transcripts."
    layout = "ROOT/any/sub/folders/clip.mp4 (+ ROOT/any/sub/folders/clip.txt)"
    labels = ("speaker (parent folder)", "transcript (.txt)", "split (train/val/test folder)")

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        if not root or not storage.isdir(root):
            raise EmptyCorpusError(
                f"--root {root!r} is not a folder. Expected videos like {self.layout}"
            )
        found = False
        for ref in discover_folder(self.name, root, load_overrides(options.extra)):
            found = True
            yield ref
        if not found:
            raise EmptyCorpusError(
                f"no video files ({', '.join(VIDEO_EXTENSIONS)}) under {root}. "
                f"Expected e.g. {self.layout}"
            )
