"""LRW-style clips (one word, the corpus's span of it, other words' speech around it) are
aligned within the span: phone boundaries against the same words aligned in their whole
sentences (the bundled recordings with their full transcripts: the word's real context)."""

from __future__ import annotations

import numpy as np
import pytest

from avprep.datasets.demo_media import (
    WORD_MIN_LETTERS,
    WordToken,
    _at_16k,
    speech_assets,
    word_window,
)
from avprep.datasets.lrw import word_span
from avprep.phonetics.alignment import Alignment, Interval
from avprep.phonetics.phoneset import PHONE_ID, SIL
from avprep.phonetics.stage import PhoneticsStage, shift_alignment
from avprep.phonetics.stage import word_window as align_window
from tests.phonetics.test_stage import work


@pytest.fixture(scope="module")
def stage(ps_aligner):
    s = PhoneticsStage(aligner=ps_aligner)
    s.setup()
    return s


def _lrw_like_words(aligner):
    """(window audio, word, span in the window, the word's phones in its sentence moved onto
    the window's time line) for every word of >= 4 letters of the bundled recordings."""
    out = []
    for asset in speech_assets():
        audio = _at_16k(asset)
        sentence = aligner.align(audio, asset.transcript)
        for w in sentence.words:
            if len(w.label) < WORD_MIN_LETTERS or not w.label.isalpha():
                continue
            seg = word_window(audio, WordToken(w.label.upper(), w.start, w.end, asset.name))
            shift = len(seg) / 2 / 16000 - (w.start + w.end) / 2  # sentence -> window time
            truth = [
                Interval(p.start + shift, p.end + shift, p.label)
                for p in sentence.phones
                if p.label != SIL and p.start >= w.start - 1e-6 and p.end <= w.end + 1e-6
            ]
            out.append((seg, w.label.upper(), word_span(w.end - w.start), truth))
    return out


def test_one_word_clips_align_within_the_corpus_span(stage, ps_aligner):
    words = _lrw_like_words(ps_aligner)
    assert len(words) >= 12
    errors = []
    for seg, word, span, truth in words:
        w = work(seg, word, {"word": word, "word_span": span})
        stage.process(w)
        meta = w.meta["phonetics"]
        np.testing.assert_allclose(meta["aligned_span"], span, atol=1 / 16000)
        (aligned_word,) = meta["words"]
        assert abs(aligned_word[0] - span[0]) < 0.011 and abs(aligned_word[1] - span[1]) < 0.011
        phones = [p for p in meta["phones"] if p[2] != SIL]
        assert phones[0][0] >= span[0] - 1e-6 and phones[-1][1] <= span[1] + 1e-6
        # frames outside the span are SIL (other words' speech: not this transcript's)
        ids = w.arrays["phone_ids_100hz"]
        t = (np.arange(len(ids)) + 0.5) / 100
        outside = (t < span[0] - 0.01) | (t > span[1] + 0.01)
        assert (ids[outside] == PHONE_ID[SIL]).all()
        if [p[2] for p in phones] == [p.label for p in truth]:  # same pronunciation chosen
            errors.append(np.mean([abs(p[0] - q.start) + abs(p[1] - q.end)
                                   for p, q in zip(phones, truth, strict=True)]) / 2)  # fmt: skip
    # aligned over the whole 1.16 s these words were a median 34 ms off, up to 0.4 s
    assert len(errors) >= 0.8 * len(words)
    assert np.median(errors) < 0.010 and max(errors) < 0.020, errors


def test_the_window_applies_to_one_word_transcripts_with_a_span_only(stage, librivox):
    audio, text = librivox["0880"]
    span = [0.3, 0.9]
    assert align_window(work(audio, "word", {"word_span": span})) == (4800, 14400)
    assert align_window(work(audio, text, {"word_span": span})) is None  # a sentence
    assert align_window(work(audio, "word")) is None  # no span
    assert align_window(work(audio, "word", {"word_span": [0.3, 0.35]})) is None  # too short
    whole = [0.0, len(audio) // 640 * 0.04]
    assert align_window(work(audio, "word", {"word_span": whole})) is None  # the whole clip
    w = work(audio, text, {"word_span": span})
    stage.process(w)
    assert "aligned_span" not in w.meta["phonetics"]


def test_shift_alignment_moves_and_retiles():
    al = Alignment(
        words=[Interval(0.1, 0.4, "cold")],
        phones=[Interval(0.0, 0.1, SIL), Interval(0.1, 0.25, "K"), Interval(0.25, 0.4, "OW"),
                Interval(0.4, 0.5, SIL)],  # fmt: skip
        duration=0.5,
    )
    out = shift_alignment(al, 0.3, 1.16)
    assert out.words == [Interval(0.4, 0.7, "cold")] and out.duration == 1.16
    got = [(round(p.start, 6), round(p.end, 6), p.label) for p in out.phones]
    assert got == [(0.0, 0.4, SIL), (0.4, 0.55, "K"), (0.55, 0.7, "OW"), (0.7, 1.16, SIL)]


def test_a_word_that_does_not_fit_its_span_is_aligned_over_the_clip(stage, ps_aligner):
    # a metadata span too short for the word's phones (each needs >= 30 ms) must not cost the
    # clip: it is aligned over the whole clip, as before the span rule, and says why
    seg, word, span, truth = next(w for w in _lrw_like_words(ps_aligner) if len(w[3]) >= 6)
    mid = (span[0] + span[1]) / 2
    w = work(seg, word, {"word": word, "word_span": [mid - 0.075, mid + 0.075]})
    stage.process(w)
    meta = w.meta["phonetics"]
    assert meta["status"] == "aligned" and "aligned_span" not in meta
    assert meta["span_fallback"].startswith("alignment_failed")
    assert [p[2] for p in meta["phones"] if p[2] != SIL] == [p.label for p in truth]
