import numpy as np
import pytest

from avprep.phonetics.phoneset import PHONES, PHONES_WITH_SIL, SIL, normalize_phone
from avprep.phonetics.visemes import VISEME_ID, VISEMES, phone_id_to_viseme_id, phone_to_viseme

DESIGN_VISEMES = ("Ah Aa Eh Ee Ih Oh Uh U Eu Schwa R S ShChZh Th JY LNTD GK MBP FV "
                  "WA_PEDAL").split()  # fmt: skip


def test_viseme_inventory_is_design_groups_plus_silence():
    assert VISEMES[0] == SIL and list(VISEMES[1:]) == DESIGN_VISEMES and len(VISEMES) == 21


def test_table_covers_every_phone_and_sil_exactly_once():
    table = phone_to_viseme()
    assert set(table) == set(PHONES_WITH_SIL)
    assert table[SIL] == SIL
    assert all(table[p] != SIL for p in PHONES)  # no phone is silent


def test_every_viseme_group_is_used():
    assert set(phone_to_viseme().values()) == set(VISEMES)


@pytest.mark.parametrize(
    "phone,viseme",
    [("B", "MBP"), ("M", "MBP"), ("P", "MBP"), ("F", "FV"), ("V", "FV"), ("TH", "Th"),
     ("DH", "Th"), ("SH", "ShChZh"), ("CH", "ShChZh"), ("W", "WA_PEDAL"), ("IY", "Ee"),
     ("UW", "U"), ("K", "GK"), ("T", "LNTD"), ("S", "S"), ("Z", "S"), ("R", "R")],
)  # fmt: skip
def test_articulatory_anchors(phone, viseme):
    assert phone_to_viseme()[phone] == viseme


def test_lookup_array_matches_table():
    lut = phone_id_to_viseme_id()
    for i, p in enumerate(PHONES_WITH_SIL):
        assert lut[i] == VISEME_ID[phone_to_viseme()[p]]


@pytest.mark.parametrize(
    "sym,want",
    [("AH0", "AH"), ("ey1", "EY"), ("sil", SIL), ("sp", SIL), ("spn", SIL), ("", SIL),
     ("<sil>", SIL), ("+NSN+", SIL), ("+SPN+", SIL), ("NSN", SIL), ("<unk>", SIL)],
)  # fmt: skip
def test_normalize_phone(sym, want):
    assert normalize_phone(sym) == want


def test_normalize_phone_rejects_foreign_symbols():
    with pytest.raises(ValueError):
        normalize_phone("ə")
    assert np.all(phone_id_to_viseme_id() >= 0)
