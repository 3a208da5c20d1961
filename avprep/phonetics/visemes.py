"""Visemes: the 20 VisemeNet/JALI mouth-shape groups + SIL, and the phone -> viseme table.

DVAE labels every audio segment with one of these 21 classes (its [32], VisemeNet, after
JALI). The table itself is data, ``avprep/data/visemes.tsv``: one row per phone with an
example word and the articulatory reason for the group. Ids are positions in
:data:`VISEMES` (SIL is 0, like the phone ids).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

from avprep.phonetics.phoneset import PHONES_WITH_SIL, SIL

VISEMES: tuple[str, ...] = (
    SIL, "Ah", "Aa", "Eh", "Ee", "Ih", "Oh", "Uh", "U", "Eu", "Schwa", "R", "S", "ShChZh",
    "Th", "JY", "LNTD", "GK", "MBP", "FV", "WA_PEDAL",
)  # fmt: skip
VISEME_ID: dict[str, int] = {v: i for i, v in enumerate(VISEMES)}


@cache
def phone_to_viseme() -> dict[str, str]:
    """The table in ``avprep/data/visemes.tsv`` as a dict (phone -> viseme name)."""
    text = resources.files("avprep").joinpath("data/visemes.tsv").read_text(encoding="utf-8")
    table: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("phone\t"):
            continue
        phone, viseme = line.split("\t")[:2]
        if viseme not in VISEME_ID:
            raise ValueError(f"visemes.tsv: unknown viseme {viseme!r} for phone {phone!r}")
        if phone in table:
            raise ValueError(f"visemes.tsv: phone {phone!r} listed twice")
        table[phone] = viseme
    return table


@cache
def phone_id_to_viseme_id() -> np.ndarray:
    """Lookup array: ``viseme_ids = phone_id_to_viseme_id()[phone_ids]``."""
    table = phone_to_viseme()
    missing = [p for p in PHONES_WITH_SIL if p not in table]
    if missing:
        raise ValueError(f"visemes.tsv has no row for {missing}")
    lut = np.array([VISEME_ID[table[p]] for p in PHONES_WITH_SIL], dtype=np.int16)
    lut.setflags(write=False)
    return lut
