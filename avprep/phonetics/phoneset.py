"""The phone inventory avprep uses everywhere: 39 ARPAbet phones (no stress) + SIL.

Ids are positions in :data:`PHONES_WITH_SIL` (SIL is id 0). The manifest's
``phone_hist`` column holds 39 counts (phone occurrences, not frames) in
:data:`PHONES` order, i.e. SIL excluded, so selection never reads shards.
"""

from __future__ import annotations

PHONES: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY",
    "F", "G", "HH", "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P",
    "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
SIL = "SIL"
PHONES_WITH_SIL: tuple[str, ...] = (SIL, *PHONES)
PHONE_ID: dict[str, int] = {p: i for i, p in enumerate(PHONES_WITH_SIL)}

# Symbols aligners emit for non-speech: CMU Sphinx fillers, MFA/Kaldi silence, noise and
# short-pause labels, and the empty interval text of a TextGrid. All become SIL.
NON_SPEECH_SYMBOLS: frozenset[str] = frozenset(
    {"", "SIL", "<SIL>", "SP", "SPN", "NSN", "NOISE", "+NSN+", "+SPN+", "+NOISE+", "+BREATH+",
     "+COUGH+", "+UM+", "+UH+", "+LAUGH+", "<S>", "</S>", "<UNK>", "<EPS>"}
)  # fmt: skip


def normalize_phone(symbol: str) -> str:
    """Map an aligner's phone label to avprep's set: strip stress digits (``AH0`` -> ``AH``),
    upper-case, and send silence/noise/short-pause symbols to ``SIL``.

    Raises ValueError for a symbol that is neither one of the 39 phones nor non-speech,
    so a model with another phone set is caught instead of silently mislabelled.
    """
    s = symbol.strip().upper()
    if s in NON_SPEECH_SYMBOLS or (s.startswith("+") and s.endswith("+")):
        return SIL
    s = s.rstrip("012")
    if s in PHONE_ID:
        return s
    raise ValueError(f"phone {symbol!r} is not one of the 39 ARPAbet phones or a silence symbol")
