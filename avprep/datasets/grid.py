"""GRID audio-visual sentence corpus: 34 speakers x 1000 six-word commands (DVAE).

Layout as distributed (per-speaker archives unpacked side by side)::

    s1/bbaf2n.mpg                 video (MPEG-1, 25 fps), from s1.mpg_vcd.zip
    align/s1/bbaf2n.align         word alignment, from alignments/s1.tar
    audio/s1/bbaf2n.wav           optional separate audio, from audio/s1.tar

Any folder depth works as long as a path component names the speaker (``s1`` ..
``s34``). ``.align`` lines are ``start end word`` in 1/25000 s (one video frame
= 1000 units); ``sil`` and ``sp`` are silence and are dropped from
``word_timings`` ([start_s, end_s, word]) and the transcript. A clip without an
``.align`` gets its transcript from the GRID file name code (``bbaf2n`` = "bin
blue at f two now"), without timings. GRID is read in a neutral tone; DVAE
labels it ``emotion = NEU``, and so do we.

Split: no official one. DVAE's 28-3-3 speaker-wise split, made reproducible by
:func:`avprep.datasets.splits.speaker_split` over s1..s34 (see ``GRID_SPLIT``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from avprep import storage
from avprep.clips import ClipError, ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, EmptyCorpusError, register
from avprep.datasets.splits import load_overrides, resolve_split, speaker_split
from avprep.keys import clip_key

ALIGN_UNITS_PER_SECOND = 25000
SILENCE = frozenset({"sil", "sp"})
GRID_SPEAKERS = tuple(f"s{i}" for i in range(1, 35))
GRID_SPLIT = speaker_split(GRID_SPEAKERS, (28, 3, 3), salt="avprep-grid-v1")
EXAMPLE = "s1/bbaf2n.mpg with align/s1/bbaf2n.align"
VIDEO_SUFFIXES = (".mpg", ".mpeg", ".mp4", ".mov", ".avi")

_SPEAKER = re.compile(r"^s([1-9]\d?)$")

# The GRID grammar: command color preposition letter digit adverb, one character each
# in the file name (letters a-z without w; digits 1-9 and z = zero).
_COMMAND = {"b": "bin", "l": "lay", "p": "place", "s": "set"}
_COLOR = {"b": "blue", "g": "green", "r": "red", "w": "white"}
_PREPOSITION = {"a": "at", "b": "by", "i": "in", "w": "with"}
_DIGIT = {
    "z": "zero", "1": "one", "2": "two", "3": "three", "4": "four",
    "5": "five", "6": "six", "7": "seven", "8": "eight", "9": "nine",
}
_ADVERB = {"a": "again", "n": "now", "p": "please", "s": "soon"}


def sentence_from_code(code: str) -> str | None:
    """The six words a GRID file name encodes, or None when it is not a GRID code."""
    c = code.lower()
    if len(c) != 6 or not ("a" <= c[3] <= "z") or c[3] == "w":
        return None
    try:
        words = [
            _COMMAND[c[0]], _COLOR[c[1]], _PREPOSITION[c[2]], c[3], _DIGIT[c[4]], _ADVERB[c[5]]
        ]
    except KeyError:
        return None
    return " ".join(words)


def parse_align(text: str) -> list[list]:
    """Word timings [start_s, end_s, word] from a GRID ``.align`` (silences dropped).

    Raises ValueError naming the first malformed line.
    """
    timings: list[list] = []
    last_end = -1
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"line {n}: expected 'start end word', got {raw!r}")
        try:
            start, end = int(parts[0]), int(parts[1])
        except ValueError:
            raise ValueError(f"line {n}: times are not integers: {raw!r}") from None
        if start < 0 or end < start or start < last_end:
            raise ValueError(f"line {n}: times out of order: {raw!r}")
        last_end = end
        word = parts[2]
        if word.lower() in SILENCE:
            continue
        timings.append([start / ALIGN_UNITS_PER_SECOND, end / ALIGN_UNITS_PER_SECOND, word])
    if not timings:
        raise ValueError("no words (only silence)")
    return timings


def speaker_of(rel: str) -> str | None:
    """The nearest ``sN`` folder above the file."""
    for part in reversed(rel.split("/")[:-1]):
        if _SPEAKER.match(part):
            return part
    return None


def _stem(rel: str) -> str:
    return rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]


@register
class GridAdapter(DatasetAdapter):
    name = "grid"
    description = (
        "GRID (DVAE): 34 speakers, 1000 commands each; transcript and word timings from "
        ".align; speaker-wise 28-3-3 split (deterministic, overridable)."
    )
    layout = (
        "s1/bbaf2n.mpg\n"
        "align/s1/bbaf2n.align  (start end word, 1/25000 s; sil, sp)\n"
        "audio/s1/bbaf2n.wav  (optional)"
    )
    labels = ("sentence", "word_timings", "emotion")

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        if not root:
            raise EmptyCorpusError(f"grid needs --root, the folder holding e.g. {EXAMPLE}")
        videos: list[tuple[str, str, str]] = []
        aligns: dict[tuple[str, str], str] = {}
        wavs: dict[tuple[str, str], str] = {}
        for path in storage.walk_files(root, (*VIDEO_SUFFIXES, ".align", ".wav")):
            rel = storage.relpath(path, root)
            speaker = speaker_of(rel)
            if speaker is None:
                continue
            low = rel.lower()
            ident = (speaker, _stem(rel).lower())
            if low.endswith(".align"):
                aligns.setdefault(ident, path)
            elif low.endswith(".wav"):
                wavs.setdefault(ident, path)
            else:
                videos.append((path, rel, speaker))
        if not videos:
            where = "does not exist" if not storage.exists(root) else "holds no GRID videos"
            raise EmptyCorpusError(
                f"{root!r} {where}: expected speaker folders s1..s34 with .mpg videos and "
                f".align files, e.g. {EXAMPLE}"
            )
        overrides = load_overrides(options.extra)
        for path, rel, speaker in videos:
            utt = _stem(rel).lower()
            split = resolve_split(overrides, rel, speaker, GRID_SPLIT.get(speaker, "train"))
            labels: dict = {"sentence": utt, "emotion": "NEU"}
            transcript = sentence_from_code(utt)
            error = None
            align = aligns.get((speaker, utt))
            if align is not None:
                try:
                    timings = parse_align(storage.read_text(align))
                    labels["word_timings"] = timings
                    transcript = " ".join(w for _, _, w in timings)
                except ValueError as e:
                    error = ClipError("bad_metadata", f"{storage.relpath(align, root)}: {e}")
            yield ClipRef(
                key=clip_key(self.name, rel), dataset=self.name, split=split, source=path,
                audio=wavs.get((speaker, utt)), speaker=speaker, transcript=transcript,
                labels=labels, error=error,
            )
