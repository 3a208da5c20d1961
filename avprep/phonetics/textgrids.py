"""Read and write MFA-style TextGrids (interval tiers ``words`` and ``phones``) with praatio."""

from __future__ import annotations

from pathlib import Path

from praatio import textgrid
from praatio.utilities.constants import Interval as PraatInterval

from avprep.phonetics.alignment import Alignment, Interval, tile_phones
from avprep.phonetics.phoneset import SIL, normalize_phone

# word-tier labels that mean "no word here"
NON_WORDS = frozenset({"", "sil", "sp", "<eps>", "<sil>", "spn"})


def alignment_to_textgrid(alignment: Alignment) -> textgrid.Textgrid:
    """Words tier (words only, gaps empty, as MFA writes) and phones tier (SIL left empty)."""
    tg = textgrid.Textgrid()
    end = alignment.duration
    words = [PraatInterval(w.start, w.end, w.label) for w in alignment.words if w.end > w.start]
    phones = [PraatInterval(p.start, p.end, p.label) for p in alignment.phones
              if p.label != SIL and p.end > p.start]  # fmt: skip
    tg.addTier(textgrid.IntervalTier("words", words, 0.0, end))
    tg.addTier(textgrid.IntervalTier("phones", phones, 0.0, end))
    return tg


def write_textgrid(alignment: Alignment, path: str | Path) -> None:
    alignment_to_textgrid(alignment).save(
        str(path), format="long_textgrid", includeBlankSpaces=True
    )


def read_textgrid(
    path: str | Path, words_tier: str = "words", phones_tier: str = "phones"
) -> Alignment:
    """An Alignment from an MFA TextGrid: phones mapped to the 39+SIL set (stress stripped,
    ``sil``/``sp``/``spn`` -> SIL); silence/empty word intervals dropped."""
    tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    names = tg.tierNames
    if words_tier not in names or phones_tier not in names:
        raise ValueError(f"{path}: needs tiers {words_tier!r} and {phones_tier!r}, has {names}")
    words = [Interval(float(s), float(e), lab.strip().lower())
             for s, e, lab in tg.getTier(words_tier).entries
             if lab.strip().lower() not in NON_WORDS]  # fmt: skip
    phones = [Interval(float(s), float(e), normalize_phone(lab))
              for s, e, lab in tg.getTier(phones_tier).entries]  # fmt: skip
    duration = float(tg.maxTimestamp)
    return Alignment(words=words, phones=tile_phones(phones, duration), duration=duration)
