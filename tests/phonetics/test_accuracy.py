"""Accuracy on real recorded speech against references the aligner did not produce.

- praatio's ``bobby.wav`` (hand-corrected word and phone TextGrids) and ``mary.wav``
  (hand word tier; its phone tier is IPA, so only words are compared), 48 kHz -> 16 kHz.
- The LibriVox clips: pocketsphinx's own ``align`` command output (``tests/data/
  pocketsphinx_ref_*.phone.json``) - this checks our two-pass driver reproduces the
  reference tool, which an off-by-one-frame or wrong-search bug would break.

A broken aligner is simulated by the "uniform" baseline (phones spread evenly over the
speech span): the asserted bounds sit well below what it scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import librosa
import numpy as np
import pytest
from praatio import textgrid

from avprep.phonetics.alignment import (
    Alignment,
    Interval,
    boundary_errors,
    error_summary,
    frame_phone_ids,
)
from avprep.phonetics.phoneset import PHONE_ID, SIL, normalize_phone

REPO = Path(__file__).resolve().parents[2]
PRAATIO = REPO / "tests" / "data" / "praatio"
LIBRIVOX = ("0880", "0890", "0930")


def tier(path, name, phones=False):
    tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    out = []
    for s, e, lab in tg.getTier(name).entries:
        if phones:  # the hand tier writes P+T of "ripped" as one "PT": kept, matches nothing
            lab = normalize_phone(lab) if lab.rstrip("012") != "PT" else "PT"
        else:
            lab = lab.lower()
        if lab and lab != SIL:
            out.append(Interval(float(s), float(e), lab))
    return out


def uniform_baseline(ref: list[Interval]) -> list[Interval]:
    s, e = ref[0].start, ref[-1].end
    step = (e - s) / len(ref)
    return [Interval(s + i * step, s + (i + 1) * step, r.label) for i, r in enumerate(ref)]


CASES = {
    "bobby": ("bobby ripped the ledger", PRAATIO / "bobby_words.TextGrid", "word",
              PRAATIO / "bobby_phones.TextGrid", "phone"),
    "mary": ("mary rolled the barrel", PRAATIO / "mary.TextGrid", "word", None, None),
}  # fmt: skip


@pytest.fixture(scope="module")
def praatio_results(ps_aligner, load_audio):
    out = {}
    for name, (text, wpath, wtier, ppath, ptier) in CASES.items():
        al = ps_aligner.align(load_audio(PRAATIO / f"{name}.wav"), text)
        ref_w = tier(wpath, wtier)
        ref_p = tier(ppath, ptier, phones=True) if ppath else []
        out[name] = (al, ref_w, ref_p)
    return out


def test_word_boundaries_vs_hand_labels(praatio_results):
    errs = np.concatenate([boundary_errors(rw, al.words) for al, rw, _ in praatio_results.values()])
    base = np.concatenate(
        [boundary_errors(rw, uniform_baseline(rw)) for _, rw, _ in praatio_results.values()]
    )
    s = error_summary(errs)
    print("word boundary error vs hand labels (bobby+mary):", s, "uniform:", error_summary(base))
    assert s["n"] == 16  # 8 words, start + end each, all matched
    assert s["mean_s"] < 0.04 and s["median_s"] < 0.03 and s["max_s"] < 0.1
    assert base.mean() > 2 * errs.mean()


def test_phone_boundaries_vs_hand_labels(praatio_results):
    al, _, ref_p = praatio_results["bobby"]
    errs = boundary_errors(ref_p, [p for p in al.phones if p.label != SIL])
    base = boundary_errors(ref_p, uniform_baseline(ref_p))
    s = error_summary(errs)
    print("phone boundary error vs hand labels (bobby):", s, "uniform:", error_summary(base))
    assert s["n"] >= 24  # 12 matched phones of 13 (the hand tier merges P+T as "PT")
    assert s["mean_s"] < 0.03 and s["median_s"] < 0.025 and s["max_s"] < 0.1
    assert base.mean() > 1.5 * errs.mean()


def _ref_json(n):
    data = json.loads((REPO / "tests" / "data" / f"pocketsphinx_ref_{n}.phone.json").read_text())
    words, phones = [], []
    for w in data["w"]:
        name = w["t"].split("(")[0]
        if not name.startswith("<"):
            words.append(Interval(w["b"], w["b"] + w["d"], name))
        for p in w["w"]:
            phones.append(Interval(p["b"], p["b"] + p["d"], normalize_phone(p["t"])))
    return words, phones


@pytest.mark.parametrize("n", LIBRIVOX)
def test_reproduces_pocketsphinx_align_command(ps_aligner, librivox, n):
    audio, text = librivox[n]
    al = ps_aligner.align(audio, text)
    ref_w, ref_p = _ref_json(n)
    we = boundary_errors(ref_w, al.words)
    pe = boundary_errors(
        [p for p in ref_p if p.label != SIL], [p for p in al.phones if p.label != SIL]
    )
    print(n, "words", error_summary(we), "phones", error_summary(pe))
    assert len(we) == 2 * len(ref_w)
    assert we.max() <= 0.011 and pe.max() <= 0.011  # same frames, up to rounding


def test_frame_labels_line_up_with_audio_energy(ps_aligner, librivox):
    """100 Hz labels vs RMS of the same 10 ms hops (librosa, no centring): silence frames
    are much quieter than vowel frames, and shifting labels by 100 ms spoils that."""
    vowels = {PHONE_ID[p] for p in ("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())}
    gaps = []
    for audio, text in librivox.values():
        al: Alignment = ps_aligner.align(audio, text)
        n = len(audio) // 160
        ids = frame_phone_ids(al.phones, 100, n)
        rms = librosa.feature.rms(y=audio, frame_length=160, hop_length=160, center=False)[0][:n]
        db = 20 * np.log10(rms + 1e-9)
        vow = np.isin(ids, list(vowels))
        gap = np.median(db[vow]) - np.median(db[ids == 0])
        shifted = np.roll(ids, 10)
        gap_shifted = np.median(db[np.isin(shifted, list(vowels))]) - np.median(db[shifted == 0])
        gaps.append((gap, gap_shifted))
    print("vowel - silence energy (dB), aligned vs 100 ms shifted:", gaps)
    for gap, gap_shifted in gaps:
        assert gap > 20 and gap > gap_shifted + 3
