"""Sidecar transcripts: the text of clips whose corpus ships none.

VoxCeleb has no transcripts (CRAN fetched the YouTube subtitles and aligned
them); a user who has transcripts for some clips hands them to
``avprep build ... --transcripts FILE``. Adapters read the file once with
:meth:`TranscriptSidecar.load` and look each clip up by its relative path.

File format (UTF-8), chosen by extension:

- ``.jsonl``: one JSON object per line, ``{"clip": "<clip>", "transcript": "<text>"}``;
- anything else (``.tsv``, ``.txt`` ...): one clip per line, ``<clip><TAB><text>``.

Blank lines and lines starting with ``#`` are ignored. ``<clip>`` is the clip's
path relative to the corpus root with ``/`` separators, with or without its
extension (``dev/mp4/id00012/21Uxsk56VDQ/00001.mp4`` or ``dev/mp4/id00012/21Uxsk56VDQ/00001``),
or a corpus clip id that the adapter documents (VoxCeleb: ``id00012/21Uxsk56VDQ/00001``;
TCD-TIMIT: a sentence id such as ``sx31``). A malformed line, an empty transcript
or one clip given two different texts is a :class:`SidecarError` naming the line:
the file is the user's configuration, so it fails before the build starts.

Encodings (every transcript file, sidecar or per clip): UTF-8 (with or without a BOM);
otherwise Windows-1252, the usual encoding of Western European text saved by Windows
tools, when the result reads as Latin text; otherwise the file is refused
(:class:`TranscriptEncodingError`, a clip rejection ``transcript_encoding``), never decoded
with replacement characters that silently drop accented letters.

Before alignment, :func:`check_transcript` rejects a transcript the English aligners cannot
use: one with letters of another script (``not_english_transcript``), and one far too long
for its audio (``transcript_too_long``), which would otherwise cost minutes of alignment
before failing.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field

from avprep import storage
from avprep.clips import ClipRejected

# A fast speaker says about 4-5 words per second; twice that is not this clip's transcript.
MAX_WORDS_PER_SECOND = 8.0
WORDS_SLACK = 4


class SidecarError(ValueError):
    """A transcript or split sidecar file that cannot be read as documented."""


class TranscriptEncodingError(ValueError):
    """A transcript file that is neither UTF-8 nor plausible Windows-1252 text."""


def decode_transcript(data: bytes, source: str) -> str:
    """Text of a transcript file (module docstring: UTF-8, else Windows-1252, else refused)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        utf8_error = e
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        letters = [c for c in text if c.isalpha()]
        foreign = sum(1 for c in letters if ord(c) > 127)
        if not letters or foreign <= 0.3 * len(letters):
            return text  # mostly ASCII letters with some accents: Windows-1252 Latin text
    raise TranscriptEncodingError(
        f"{source} is not UTF-8 ({utf8_error.reason} at byte {utf8_error.start}) and does not "
        "read as Windows-1252 Latin text: save it as UTF-8"
    )


def read_transcript_file(path: str) -> str:
    return decode_transcript(storage.read_bytes(path), path)


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else f"U+{ord(ch):04X}"


def check_transcript(transcript: str, seconds: float) -> None:
    """Raise :class:`ClipRejected` for a transcript the aligner cannot use (module doc)."""
    scripts = sorted({_script(c) for c in transcript if c.isalpha() and _script(c) != "LATIN"})
    if scripts:
        raise ClipRejected(
            "not_english_transcript",
            f"transcript {transcript[:60]!r} has {'/'.join(scripts).lower()} letters: not "
            "pronounceable English for the aligner's English model (give an English "
            "transcript, or build with --aligner none)",
        )
    from avprep.phonetics.lexicon import normalize_transcript

    n_words = len(normalize_transcript(transcript))
    if n_words > MAX_WORDS_PER_SECOND * seconds + WORDS_SLACK:
        raise ClipRejected(
            "transcript_too_long",
            f"{n_words} words for {seconds:.2f} s of audio (over {MAX_WORDS_PER_SECOND:g} "
            "words/s): the transcript does not belong to this clip, or the clip is cut short",
        )


def normalise_clip_id(clip: str) -> str:
    """``/``-separated, no leading ``./`` or ``/``, surrounding blanks removed."""
    c = clip.strip().replace("\\", "/")
    while c.startswith("./"):
        c = c[2:]
    return c.strip("/")


def strip_extension(clip: str) -> str:
    head, _, base = clip.rpartition("/")
    if "." in base:
        base = base.rsplit(".", 1)[0]
    return f"{head}/{base}" if head else base


def parse_sidecar_lines(text: str, source: str, jsonl: bool) -> list[tuple[int, str, str]]:
    """``(line number, clip, value)`` for every entry of a sidecar file's text."""
    rows: list[tuple[int, str, str]] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if jsonl:
            try:
                obj = json.loads(line)
                clip, value = obj["clip"], obj["transcript"]
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise SidecarError(
                    f"{source}:{n}: expected a JSON object with 'clip' and 'transcript' ({e})"
                ) from None
            if not isinstance(clip, str) or not isinstance(value, str):
                raise SidecarError(f"{source}:{n}: 'clip' and 'transcript' must be strings")
        else:
            if "\t" not in raw:
                raise SidecarError(f"{source}:{n}: expected '<clip><TAB><transcript>', got {raw!r}")
            clip, value = raw.split("\t", 1)
        clip, value = normalise_clip_id(clip), " ".join(value.split())
        if not clip:
            raise SidecarError(f"{source}:{n}: empty clip path")
        if not value:
            raise SidecarError(f"{source}:{n}: empty transcript for {clip!r}")
        rows.append((n, clip, value))
    return rows


@dataclass
class TranscriptSidecar:
    """Clip id -> transcript, indexed with and without the file extension."""

    source: str = ""
    entries: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str) -> TranscriptSidecar:
        try:
            text = read_transcript_file(path)
        except TranscriptEncodingError as e:
            raise SidecarError(str(e)) from None
        return cls.parse(text, source=path, jsonl=path.lower().endswith(".jsonl"))

    @classmethod
    def parse(
        cls, text: str, source: str = "<transcripts>", jsonl: bool = False
    ) -> TranscriptSidecar:
        sidecar = cls(source=source)
        first_line: dict[str, int] = {}
        for n, clip, value in parse_sidecar_lines(text, source, jsonl):
            for k in {clip, strip_extension(clip)}:
                old = sidecar.entries.get(k)
                if old is not None and old != value:
                    raise SidecarError(
                        f"{source}:{n}: {clip!r} already has a different transcript "
                        f"(line {first_line[k]})"
                    )
                sidecar.entries[k] = value
                first_line.setdefault(k, n)
        return sidecar

    def __len__(self) -> int:
        return len(self.entries)

    def lookup(self, *candidates: str | None) -> str | None:
        """The transcript of the first candidate found (tried with and without extension)."""
        for c in candidates:
            if not c:
                continue
            c = normalise_clip_id(c)
            for k in (c, strip_extension(c)):
                if k in self.entries:
                    return self.entries[k]
        return None


def load_optional(path: str | None) -> TranscriptSidecar | None:
    """The sidecar at ``path``, or None when no file was given."""
    return TranscriptSidecar.load(path) if path else None
