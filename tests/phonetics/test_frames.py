"""The frame rule, worked by hand: frame i at rate R covers [i/R, (i+1)/R), labelled by the
interval containing its centre; a centre on a boundary goes to the later interval."""

import numpy as np

from avprep.phonetics.alignment import (
    Interval,
    boundary_errors,
    frame_phone_ids,
    phone_histogram,
    tile_phones,
)
from avprep.phonetics.phoneset import PHONE_ID, PHONES


def ids(*names):
    return [PHONE_ID[n] for n in names]


def test_straddling_frame_takes_phone_covering_its_centre():
    # 100 Hz: frame 0 [0,10ms) centre 5 ms; frame 1 [10,20) centre 15 ms; frame 2 centre 25
    phones = [Interval(0.0, 0.013, "B"), Interval(0.013, 0.026, "AA"), Interval(0.026, 0.04, "T")]
    # frame 1 straddles B|AA at 13 ms: 3 ms of B, 7 ms of AA -> AA (centre 15 ms in AA)
    # frame 2 straddles AA|T at 26 ms: 6 ms of AA, 4 ms of T -> AA
    assert frame_phone_ids(phones, 100, 4).tolist() == ids("B", "AA", "AA", "T")


def test_centre_exactly_on_boundary_goes_to_later_phone():
    phones = [Interval(0.0, 0.015, "S"), Interval(0.015, 0.03, "IY")]
    assert frame_phone_ids(phones, 100, 3).tolist() == ids("S", "IY", "IY")


def test_video_rate_and_silence_outside_intervals():
    phones = [Interval(0.05, 0.11, "M")]  # 25 fps centres: 20, 60, 100, 140 ms
    assert frame_phone_ids(phones, 25, 4).tolist() == ids("SIL", "M", "M", "SIL")


def test_tile_fills_gaps_with_sil_and_clips_to_duration():
    tiled = tile_phones([Interval(0.1, 0.2, "K"), Interval(0.25, 0.5, "AE")], 0.4)
    assert [(p.start, p.end, p.label) for p in tiled] == [
        (0.0, 0.1, "SIL"), (0.1, 0.2, "K"), (0.2, 0.25, "SIL"), (0.25, 0.4, "AE")]  # fmt: skip


def test_histogram_counts_occurrences_in_phones_order():
    h = phone_histogram([Interval(0, 1, "AA"), Interval(1, 2, "SIL"), Interval(2, 3, "AA"),
                         Interval(3, 4, "ZH")])  # fmt: skip
    assert len(h) == 39 and sum(h) == 3
    assert h[PHONES.index("AA")] == 2 and h[PHONES.index("ZH")] == 1


def test_boundary_errors_match_by_label():
    ref = [Interval(0.1, 0.3, "he"), Interval(0.3, 0.6, "was"), Interval(0.6, 0.9, "not")]
    hyp = [Interval(0.12, 0.3, "he"), Interval(0.65, 0.95, "not")]
    e = boundary_errors(ref, hyp)
    assert np.allclose(sorted(e), sorted([0.02, 0.0, 0.05, 0.05]))
