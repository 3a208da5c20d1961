"""What an aligner returns (word and phone intervals in seconds) and what is derived from it:
per-frame phone/viseme ids, the phone histogram, boundary errors against reference timings.

Frame rule (both rates): frame ``i`` at rate ``R`` covers ``[i/R, (i+1)/R)`` and takes the
label of the interval that contains its centre ``(i + 0.5)/R``. Intervals are half-open
``[start, end)``, so a centre exactly on a boundary goes to the later interval. For a frame
that straddles two phones this picks the phone covering the larger part of the frame (the
one covering the centre covers at least half). Times past the last interval are SIL.
At 100 Hz the frames are the 10 ms hops of the audio features (160 samples at 16 kHz);
at 25 fps they are the video frames (sample 0 is frame 0's time, see DecodedMedia).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avprep.phonetics.phoneset import PHONE_ID, PHONES, SIL
from avprep.phonetics.visemes import phone_id_to_viseme_id


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    label: str

    def as_list(self) -> list[Any]:
        return [round(self.start, 4), round(self.end, 4), self.label]


@dataclass
class Alignment:
    """Word intervals (spoken words only, in transcript order) and phone intervals
    (tiling ``[0, duration]``, SIL between words) of one utterance."""

    words: list[Interval]
    phones: list[Interval]
    duration: float
    guessed_words: list[str] = field(default_factory=list)  # pronounced by G2P, not a dict
    aligner: str = ""


def tile_phones(phones: list[Interval], duration: float, min_gap: float = 1e-6) -> list[Interval]:
    """Sort, clip to ``[0, duration]``, fill gaps with SIL and merge adjacent SILs."""
    out: list[Interval] = []
    t = 0.0
    for p in sorted(phones, key=lambda p: p.start):
        start, end = max(p.start, t), min(p.end, duration)
        if end <= start:
            continue
        if start - t > min_gap:
            out.append(Interval(t, start, SIL))
        out.append(Interval(start, end, p.label))
        t = end
    if duration - t > min_gap:
        out.append(Interval(t, duration, SIL))
    merged: list[Interval] = []
    for p in out:
        if merged and p.label == SIL and merged[-1].label == SIL:
            merged[-1] = Interval(merged[-1].start, p.end, SIL)
        else:
            merged.append(p)
    return merged


def frame_phone_ids(phones: list[Interval], rate: float, n_frames: int) -> np.ndarray:
    """Phone id per frame at ``rate`` Hz by the centre rule in the module docstring."""
    centres = (np.arange(n_frames) + 0.5) / rate
    ids = np.zeros(n_frames, dtype=np.int16)  # SIL
    if not phones or n_frames == 0:
        return ids
    starts = np.array([p.start for p in phones])
    ends = np.array([p.end for p in phones])
    labels = np.array([PHONE_ID[p.label] for p in phones], dtype=np.int16)
    k = np.searchsorted(starts, centres, side="right") - 1  # last interval starting <= centre
    ok = (k >= 0) & (centres < ends[np.clip(k, 0, None)])
    ids[ok] = labels[k[ok]]
    return ids


def viseme_ids(phone_ids: np.ndarray) -> np.ndarray:
    return phone_id_to_viseme_id()[phone_ids]


def phone_histogram(phones: list[Interval]) -> list[int]:
    """Counts of phone occurrences (intervals, not frames) in PHONES order (SIL excluded)."""
    counts = dict.fromkeys(PHONES, 0)
    for p in phones:
        if p.label != SIL:
            counts[p.label] += 1
    return [counts[p] for p in PHONES]


def boundary_errors(
    reference: list[Interval], hypothesis: list[Interval], match_labels: bool = True
) -> np.ndarray:
    """Absolute start and end differences (seconds) of matched intervals.

    Intervals are matched in order by label (difflib on the label sequences), so a reference
    with a word the hypothesis lacks, or different normalisation of one word, costs only
    that word. With ``match_labels=False`` the two lists are paired one-to-one by position.
    """
    if match_labels:
        sm = difflib.SequenceMatcher(
            a=[r.label for r in reference], b=[h.label for h in hypothesis], autojunk=False
        )
        pairs = [
            (reference[b.a + i], hypothesis[b.b + i])
            for b in sm.get_matching_blocks()
            for i in range(b.size)
        ]
    else:
        pairs = list(zip(reference, hypothesis, strict=True))
    errs = [abs(r.start - h.start) for r, h in pairs] + [abs(r.end - h.end) for r, h in pairs]
    return np.asarray(errs, dtype=np.float64)


def error_summary(errors: np.ndarray) -> dict[str, float | int]:
    """mean/median/max in seconds and the number of boundaries, for metadata and reports."""
    if errors.size == 0:
        return {"n": 0}
    return {
        "n": int(errors.size),
        "mean_s": round(float(errors.mean()), 4),
        "median_s": round(float(np.median(errors)), 4),
        "max_s": round(float(errors.max()), 4),
    }
