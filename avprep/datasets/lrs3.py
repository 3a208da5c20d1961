"""LRS3-TED: sentences from TED talks with word alignments (DVAE's in-the-wild set).

Layout as distributed::

    pretrain/0Fi83BHQsMA/00001.mp4
    pretrain/0Fi83BHQsMA/00001.txt
    trainval/0Fi83BHQsMA/00002.mp4
    test/0Fi83BHQsMA/00001.mp4

Each ``.txt`` starts with ``Text:  <sentence>`` and ``Conf:  <n>``, then, after
the header ``WORD START END ASDSCORE``, one row per word with times in seconds
from the start of the clip. Labels: ``word_timings`` ([start_s, end_s, word]),
``video_id`` (the TED video). LRS3 has no speaker ids; ``speaker`` is the video
id (one talk, one main speaker), so ``--speakers`` selects talks.

Split: the official folders, named as everywhere in avprep: ``pretrain``,
``train`` (LRS3's ``trainval``) and ``test``.
"""

from __future__ import annotations

from collections.abc import Iterator

from avprep import storage
from avprep.clips import ClipError, ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, EmptyCorpusError, register
from avprep.datasets.splits import load_overrides, resolve_split
from avprep.datasets.transcripts import TranscriptEncodingError, read_transcript_file
from avprep.keys import clip_key

SPLIT_DIRS = {"pretrain": "pretrain", "trainval": "train", "test": "test"}
EXAMPLE = "trainval/0Fi83BHQsMA/00002.mp4 (+ 00002.txt)"
WORD_HEADER = ("WORD", "START", "END", "ASDSCORE")


def parse_lrs3_txt(text: str) -> tuple[str, list[list]]:
    """(transcript, word timings) of an LRS3 ``.txt``; ValueError naming what is wrong."""
    transcript = None
    timings: list[list] = []
    in_words = False
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not in_words:
            if tuple(line.split()) == WORD_HEADER:
                in_words = True
            elif line.lower().startswith("text:"):
                transcript = " ".join(line[5:].split())
            continue
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(f"line {n}: expected 'WORD START END ASDSCORE', got {raw!r}")
        try:
            start, end, _ = float(parts[1]), float(parts[2]), float(parts[3])
        except ValueError:
            raise ValueError(f"line {n}: times are not numbers: {raw!r}") from None
        if start < 0 or end < start:
            raise ValueError(f"line {n}: end before start: {raw!r}")
        timings.append([start, end, parts[0]])
    if not transcript:
        raise ValueError("no 'Text:' line")
    return transcript, timings


def _split_of(rel: str) -> tuple[str, str] | None:
    """(split, video id) when ``rel`` is <split dir>/<video id>/<n>.mp4."""
    parts = rel.split("/")
    if len(parts) >= 3 and parts[-3] in SPLIT_DIRS:
        return SPLIT_DIRS[parts[-3]], parts[-2]
    return None


@register
class LRS3Adapter(DatasetAdapter):
    name = "lrs3"
    description = (
        "LRS3-TED (DVAE): TED sentences with transcripts and word timings; official "
        "pretrain / trainval (-> train) / test folders."
    )
    layout = (
        "trainval/0Fi83BHQsMA/00002.mp4\n"
        "trainval/0Fi83BHQsMA/00002.txt  (Text:, Conf:, then WORD START END ASDSCORE rows)\n"
        "{pretrain,test}/<video id>/00001.mp4"
    )
    labels = ("word_timings", "video_id")

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        if not root:
            raise EmptyCorpusError(f"lrs3 needs --root, the folder holding e.g. {EXAMPLE}")
        videos = []
        stray = []
        texts = set()
        for path in storage.walk_files(root, (".mp4", ".txt")):
            rel = storage.relpath(path, root)
            if rel.lower().endswith(".txt"):
                texts.add(rel)
                continue
            found = _split_of(rel)
            if found is not None:
                videos.append((path, rel, *found))
            else:
                stray.append((path, rel))
        if not videos:
            where = "does not exist" if not storage.exists(root) else "holds no LRS3 clips"
            raise EmptyCorpusError(
                f"{root!r} {where}: expected {{pretrain,trainval,test}}/<video id>/NNNNN.mp4 "
                f"with a same-name .txt, e.g. {EXAMPLE}"
            )
        overrides = load_overrides(options.extra)
        for path, rel in stray:
            yield ClipRef(
                key=clip_key(self.name, rel), dataset=self.name, split="train", source=path,
                error=ClipError(
                    "bad_layout", f"{rel} is not {{pretrain,trainval,test}}/<video id>/NNNNN.mp4"
                ),
            )
        for path, rel, split, video_id in videos:
            labels: dict = {"video_id": video_id}
            transcript = error = None
            txt_rel = rel.rsplit(".", 1)[0] + ".txt"
            if txt_rel not in texts:
                error = ClipError(
                    "missing_metadata", f"{txt_rel} not found (LRS3 ships one .txt per clip)"
                )
            else:
                try:
                    text = read_transcript_file(path.rsplit(".", 1)[0] + ".txt")
                    transcript, timings = parse_lrs3_txt(text)
                    labels["word_timings"] = timings
                except TranscriptEncodingError as e:
                    error = ClipError("transcript_encoding", str(e))
                except ValueError as e:
                    error = ClipError("bad_metadata", f"{txt_rel}: {e}")
            yield ClipRef(
                key=clip_key(self.name, rel), dataset=self.name,
                split=resolve_split(overrides, rel, video_id, split), source=path,
                speaker=video_id, transcript=transcript, labels=labels, error=error,
            )
