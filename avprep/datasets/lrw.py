"""LRW (Lip Reading in the Wild): 500 words, one 1.16 s clip per utterance (DAVS).

Layout as distributed (``lipread_mp4`` may be the root itself or a folder in it)::

    lipread_mp4/ABOUT/train/ABOUT_00001.mp4
    lipread_mp4/ABOUT/train/ABOUT_00001.txt   Text:  ABOUT / Conf: ... / Duration: 0.47 seconds
    lipread_mp4/ABOUT/val/ABOUT_00001.mp4
    lipread_mp4/ABOUT/test/ABOUT_00001.mp4

Labels: ``word`` (the folder name), ``word_id`` (index of the word in the sorted
word list; 0..499 on the full corpus) and ``word_span`` ([start_s, end_s] of the
word: LRW's ``Duration:`` is the word's length, centred in the 29-frame, 1.16 s
clip). The word list is the sorted set of word folders found under the root,
which is the official 500-word list on a complete copy; on a partial copy pass
the official list (one word per line) as ``extra["word_list"]`` so ids stay the
500-class ids. Splits are LRW's own folders (train, val, test). LRW has no
speaker ids, so ``speaker`` is None (``--speakers`` selects nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from avprep import storage
from avprep.clips import ClipError, ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, EmptyCorpusError, register
from avprep.datasets.splits import SplitOverrides, load_overrides, resolve_split
from avprep.keys import clip_key

CLIP_FRAMES = 29
FPS = 25.0
CLIP_SECONDS = CLIP_FRAMES / FPS  # 1.16
SPLIT_DIRS = ("train", "val", "test")
EXAMPLE = "lipread_mp4/ABOUT/train/ABOUT_00001.mp4 (+ ABOUT_00001.txt)"

_DURATION = re.compile(
    r"^\s*Duration\s*:\s*(\S+)(?:\s+seconds?)?\s*$", re.IGNORECASE | re.MULTILINE
)
_TEXT = re.compile(r"^\s*Text\s*:\s*(.*?)\s*$", re.IGNORECASE | re.MULTILINE)


def word_span(duration: float) -> list[float]:
    """[start_s, end_s] of a word of ``duration`` s centred in the 1.16 s clip, clipped to it."""
    mid = CLIP_SECONDS / 2
    start = max(0.0, mid - duration / 2)
    end = min(CLIP_SECONDS, mid + duration / 2)
    return [round(start, 6), round(end, 6)]


def parse_lrw_txt(text: str, word: str) -> tuple[float, str | None]:
    """The word duration in seconds (and the Text: value) of an LRW ``.txt``.

    Raises ValueError with a human-readable reason when the file is malformed.
    """
    m = _DURATION.search(text)
    if m is None:
        raise ValueError("no 'Duration: <seconds> seconds' line")
    try:
        duration = float(m.group(1))
    except ValueError:
        raise ValueError(f"Duration {m.group(1)!r} is not a number") from None
    if not (0.0 < duration < 10.0):
        raise ValueError(f"Duration {duration} s is not a word length")
    t = _TEXT.search(text)
    said = t.group(1) if t else None
    if said is not None and said.upper() != word.upper():
        raise ValueError(f"Text: {said!r} does not match the word folder {word!r}")
    return duration, said


def load_word_list(path: str) -> list[str]:
    """A user-supplied word list (one word per line), sorted and upper-cased."""
    words = {w.strip().upper() for w in storage.read_text(path).splitlines() if w.strip()}
    return sorted(words)


def _split_of(parts: list[str]) -> tuple[str, str] | None:
    """(word, split) when ``parts`` (relative path components) follow WORD/split/WORD_n.mp4."""
    if len(parts) < 3:
        return None
    word, split, name = parts[-3], parts[-2], parts[-1]
    if split not in SPLIT_DIRS or not name.upper().startswith(word.upper() + "_"):
        return None
    return word, split


@register
class LRWAdapter(DatasetAdapter):
    name = "lrw"
    description = (
        "LRW, Lip Reading in the Wild (DAVS): 500 words, 29-frame clips; official "
        "train/val/test folders; word id from the sorted word list, word span from Duration:."
    )
    layout = (
        "lipread_mp4/ABOUT/train/ABOUT_00001.mp4\n"
        "lipread_mp4/ABOUT/train/ABOUT_00001.txt  (Text:, Conf:, Duration: 0.47 seconds)\n"
        "lipread_mp4/ABOUT/{val,test}/ABOUT_00051.mp4"
    )
    labels = ("word", "word_id", "word_span")

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        if not root:
            raise EmptyCorpusError(f"lrw needs --root, the folder holding e.g. {EXAMPLE}")
        videos: list[tuple[str, str, str, str]] = []  # (path, rel, word, split)
        texts: set[str] = set()
        stray: list[tuple[str, str]] = []
        for path in storage.walk_files(root, (".mp4", ".txt")):
            rel = storage.relpath(path, root)
            if rel.lower().endswith(".txt"):
                texts.add(rel)
                continue
            found = _split_of(rel.split("/"))
            if found is None:
                stray.append((path, rel))
            else:
                videos.append((path, rel, found[0], found[1]))
        if not videos:
            where = "does not exist" if not storage.exists(root) else "holds no LRW clips"
            raise EmptyCorpusError(
                f"{root!r} {where}: expected WORD/{{train,val,test}}/WORD_NNNNN.mp4 with a "
                f"same-name .txt, e.g. {EXAMPLE}"
            )
        listed = options.extra.get("word_list")
        words = load_word_list(listed) if listed else sorted({w.upper() for _, _, w, _ in videos})
        word_ids = {w: i for i, w in enumerate(words)}
        overrides = load_overrides(options.extra)

        for path, rel in stray:
            yield ClipRef(
                key=clip_key(self.name, rel), dataset=self.name, split="train", source=path,
                error=ClipError(
                    "bad_layout", f"{rel} is not WORD/{{train,val,test}}/WORD_NNNNN.mp4"
                ),
            )
        for path, rel, word, split in videos:
            yield self._clip(path, rel, word, split, texts, word_ids, overrides, listed)

    def _clip(
        self, path: str, rel: str, word: str, split: str, texts: set[str],
        word_ids: dict[str, int], overrides: SplitOverrides | None, listed: str | None,
    ) -> ClipRef:
        word_u = word.upper()
        key = clip_key(self.name, rel)
        split = resolve_split(overrides, rel, None, split)
        labels: dict = {"word": word_u}
        error = None
        if word_u in word_ids:
            labels["word_id"] = word_ids[word_u]
        else:
            error = ClipError("unknown_word", f"{word_u} is not in the word list {listed}")
        txt_rel = rel.rsplit(".", 1)[0] + ".txt"
        if error is None and txt_rel not in texts:
            error = ClipError(
                "missing_metadata", f"{txt_rel} not found (LRW ships one .txt per clip)"
            )
        if error is None:
            try:
                txt_path = path.rsplit(".", 1)[0] + ".txt"
                duration, _ = parse_lrw_txt(storage.read_text(txt_path), word_u)
                labels["word_span"] = word_span(duration)
                labels["word_duration"] = duration
            except ValueError as e:
                error = ClipError("bad_metadata", f"{txt_rel}: {e}")
        return ClipRef(
            key=key, dataset=self.name, split=split, source=path, speaker=None,
            transcript=word_u, labels=labels, error=error,
        )
