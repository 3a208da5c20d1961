"""The phonetics stage of ``avprep build``: forced alignment -> per-frame phone/viseme ids.

For each clip with a transcript (``work.ref.transcript``), forced alignment. A clip without
one (None: the corpus has none, e.g. VoxCeleb) gets recognised labels when ``recognize`` is
``"auto"`` (the default; :mod:`avprep.phonetics.recognizer`), or passes through with
``meta["phonetics"]["status"] == "no_transcript"`` when it is ``"off"``. A transcript always
wins: recognition never runs on a clip that has one. Outputs, either way:

- ``meta["phonetics"]``: status, aligner and versions, normalised transcript words, word
  and phone intervals ``[start_s, end_s, label]``, words pronounced by G2P, and, when the
  corpus ships word timings (``ref.labels["word_timings"]``, ``[start_s, end_s, word]``
  rows from GRID/LRS3), the aligner's word-boundary error against them;
- arrays ``phone_ids_25fps`` / ``viseme_ids_25fps`` (one per video frame, length
  ``media.n_frames``) and ``phone_ids_100hz`` / ``viseme_ids_100hz`` (one per 10 ms audio
  hop, length ``len(audio) // 160`` = 4 per video frame), int16, by the frame-centre rule
  of :mod:`avprep.phonetics.alignment`;
- ``manifest["phone_hist"]``: 39 phone-occurrence counts in PHONES order;
- ``manifest["label_source"]`` / ``meta["phonetics"]["label_source"]``: ``"transcript"`` or
  ``"recognized"``; ``manifest["label_confidence"]`` / ``meta["phonetics"]["confidence"]``:
  1.0 for a transcript, the recogniser's confidence in [0, 1] otherwise (recognised clips
  also carry ``meta["phonetics"]["hypothesis"]`` and ``"recognizer"``).

A one-word transcript whose corpus says where the word is (``labels["word_span"]``: LRW's
``Duration:``, centred in the 1.16 s clip) is aligned within that span only; outside it the
frames are SIL and ``meta["phonetics"]["aligned_span"]`` records the span (a word that does not
fit its span is aligned over the whole clip instead: ``span_fallback`` says why). LRW cuts its clips
out of sentences, so the word's neighbours speak around it: aligned over the whole clip, their
speech had nowhere to go but into the word, whose edge phones stretched over it (16 LRW-like
windows of the bundled recordings: phone boundaries a median 34 ms and up to 0.4 s from the
same words aligned in their sentences; within the span a median 4 ms, at most 9 ms).

Rejections: ``empty_transcript``, ``no_speech``, ``alignment_failed`` (see the aligners);
for recognised clips ``no_speech`` and ``nothing_recognized``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from avprep.clips import ClipRejected, ClipWork
from avprep.phonetics.aligner import AlignRequest, PhoneAligner
from avprep.phonetics.aligner_backends import make_aligner
from avprep.phonetics.alignment import (
    Alignment,
    Interval,
    boundary_errors,
    error_summary,
    frame_phone_ids,
    phone_histogram,
    tile_phones,
    viseme_ids,
)
from avprep.phonetics.lexicon import normalize_transcript
from avprep.phonetics.phoneset import SIL
from avprep.phonetics.recognizer import (
    RECOGNIZERS,
    PocketSphinxRecognizer,
    Recognition,
    RecognizerConfig,
)
from avprep.stages import Stage

HOP_SAMPLES = 160  # 10 ms at 16 kHz
NON_WORDS = frozenset({"sil", "sp", "<sil>", "", "spn"})
RECOGNIZE_MODES = ("auto", "off")  # clips without a transcript: recognise, or leave unlabelled


def reference_words(word_timings: Sequence[Sequence[Any]]) -> list[Interval]:
    """Corpus word timings ``[start_s, end_s, word]`` as intervals of normalised words
    (silence rows dropped; a word that normalises to several, like ``42``, keeps its span)."""
    out = []
    for start, end, word in word_timings:
        if str(word).lower() in NON_WORDS:
            continue
        label = " ".join(normalize_transcript(str(word)))
        if label:
            out.append(Interval(float(start), float(end), label))
    return out


def word_window(work: ClipWork) -> tuple[int, int] | None:
    """Samples ``[start, end)`` to align a clip's transcript in: its corpus's ``word_span``
    when the transcript is one word (module doc); None (the whole clip) otherwise, and when
    the span is shorter than 0.1 s of audio or covers the clip."""
    span = work.ref.labels.get("word_span")
    if not span or work.media is None:
        return None
    if len(normalize_transcript(work.ref.transcript or "")) != 1:
        return None
    sr, n = work.media.sample_rate, len(work.media.audio)
    start = min(max(0, int(round(float(span[0]) * sr))), n)
    end = min(max(start, int(round(float(span[1]) * sr))), n)
    if end - start < int(0.1 * sr) or (start, end) == (0, n):
        return None
    return start, end


def shift_alignment(al: Alignment, offset: float, duration: float) -> Alignment:
    """An alignment of audio starting ``offset`` s into a clip of ``duration`` s, on the
    clip's time line: intervals moved, SIL before and after (:func:`tile_phones`)."""

    def move(iv: Interval) -> Interval:
        return Interval(iv.start + offset, iv.end + offset, iv.label)

    spoken = [move(p) for p in al.phones if p.label != SIL]
    return dataclasses.replace(
        al,
        words=[move(w) for w in al.words],
        phones=tile_phones(spoken, duration),
        duration=duration,
    )


class PhoneticsStage(Stage):
    name = "phonetics"
    batches = True  # one aligner call per batch (MFA: one process, folders per speaker)

    def __init__(
        self,
        aligner: str | PhoneAligner = "pocketsphinx",
        aligner_options: dict[str, Any] | None = None,
        recognize: str = "auto",
        recognizer: str = "words",
    ) -> None:
        if recognize not in RECOGNIZE_MODES:
            raise ValueError(f"recognize must be one of {RECOGNIZE_MODES}, not {recognize!r}")
        if recognizer not in RECOGNIZERS:
            raise ValueError(f"recognizer must be one of {RECOGNIZERS}, not {recognizer!r}")
        self.aligner: PhoneAligner = (
            make_aligner(aligner, **(aligner_options or {}))
            if isinstance(aligner, str)
            else aligner
        )
        self.recognize = recognize
        self.recognizer = PocketSphinxRecognizer(RecognizerConfig(method=recognizer))
        self._recognizer_ready = False

    def setup(self) -> None:
        self.aligner.setup()

    def _setup_recognizer(self) -> None:
        """Loaded at the first clip without a transcript (corpora with transcripts never pay
        for the word LM)."""
        if not self._recognizer_ready:
            self.recognizer.setup()
            self._recognizer_ready = True

    def versions(self) -> dict[str, str]:
        v = {"aligner": self.aligner.name, **self.aligner.versions()}
        if self.recognize == "auto":
            v.update(self.recognizer.versions())
        return v

    def process(self, work: ClipWork) -> None:
        (result,) = self.process_batch([work])
        if result is not None:
            raise result

    def process_batch(self, works: Sequence[ClipWork]) -> list[ClipRejected | None]:
        """Align several clips in one aligner call (MFA: one process, folders per speaker).
        Returns, per clip, None when its outputs were added, else its ClipRejected."""
        results: list[ClipRejected | None] = [None] * len(works)
        todo: list[int] = []
        for i, w in enumerate(works):
            if w.media is None and (w.ref.transcript is not None or self.recognize == "auto"):
                results[i] = ClipRejected("no_audio", "phonetics needs the decoded audio")
            elif w.ref.transcript is not None:
                todo.append(i)
            elif self.recognize == "auto":
                results[i] = self._recognize(w)
            else:
                w.meta["phonetics"] = {"status": "no_transcript"}
        windows = [word_window(works[i]) for i in todo]
        requests = [
            AlignRequest(
                works[i].ref.key,
                works[i].media.audio[slice(*win) if win else slice(None)],
                works[i].ref.transcript or "",
                works[i].ref.speaker,
            )  # fmt: skip
            for i, win in zip(todo, windows, strict=True)
        ]
        aligned = self.aligner.align_many(requests) if requests else []
        # a word that does not fit its span (a metadata span too short for its phones, or
        # no speech there) is aligned over the whole clip, as before the span rule, rather
        # than losing the clip; the sample says why (``span_fallback``)
        retry = [
            k
            for k, (win, res) in enumerate(zip(windows, aligned, strict=True))
            if win is not None and isinstance(res, ClipRejected)
        ]
        fallbacks: dict[int, str] = {}
        if retry:
            whole = [dataclasses.replace(requests[k], audio=works[todo[k]].media.audio)
                     for k in retry]  # fmt: skip
            for k, res in zip(retry, self.aligner.align_many(whole), strict=True):
                fallbacks[k] = str(aligned[k])
                windows[k], aligned[k] = None, res
        for k, (i, win, res) in enumerate(zip(todo, windows, aligned, strict=True)):
            if isinstance(res, ClipRejected):
                results[i] = res
            elif win is None:
                self._write(works[i], res, fallback=fallbacks.get(k))
            else:
                media = works[i].media
                span = (win[0] / media.sample_rate, win[1] / media.sample_rate)
                duration = len(media.audio) / media.sample_rate
                self._write(works[i], shift_alignment(res, span[0], duration), span=span)
        return results

    def _recognize(self, work: ClipWork) -> ClipRejected | None:
        self._setup_recognizer()
        try:
            rec = self.recognizer.recognize(work.media.audio)
        except ClipRejected as e:
            return e
        self._write(work, rec.alignment, rec)
        return None

    def _write(
        self,
        work: ClipWork,
        al: Alignment,
        rec: Recognition | None = None,
        span: tuple[float, float] | None = None,
        fallback: str | None = None,
    ) -> None:
        media = work.media
        assert media is not None
        n_100 = len(media.audio) // HOP_SAMPLES
        p25 = frame_phone_ids(al.phones, media.fps, media.n_frames)
        p100 = frame_phone_ids(al.phones, media.sample_rate / HOP_SAMPLES, n_100)
        work.arrays["phone_ids_25fps"] = p25
        work.arrays["viseme_ids_25fps"] = viseme_ids(p25)
        work.arrays["phone_ids_100hz"] = p100
        work.arrays["viseme_ids_100hz"] = viseme_ids(p100)
        confidence = 1.0 if rec is None else rec.confidence
        source = "transcript" if rec is None else "recognized"
        meta: dict[str, Any] = {
            "status": "aligned" if rec is None else "recognized",
            "label_source": source,
            "confidence": confidence,
            "aligner": self.aligner.name if rec is None else self.recognizer.name,
            "versions": self.aligner.versions() if rec is None else self.recognizer.versions(),
            "transcript_words": normalize_transcript(work.ref.transcript or ""),
            "words": [w.as_list() for w in al.words],
            "phones": [p.as_list() for p in al.phones],
            "guessed_words": list(al.guessed_words),
        }
        if rec is not None:
            meta["recognizer"] = rec.method
            meta["hypothesis"] = rec.hypothesis
        if span is not None:
            meta["aligned_span"] = [round(span[0], 6), round(span[1], 6)]
        if fallback is not None:  # the word did not fit its span: aligned over the clip
            meta["span_fallback"] = fallback
        timings = work.ref.labels.get("word_timings")
        if timings:
            ref = reference_words(timings)
            errs = boundary_errors(ref, al.words)
            meta["word_boundary_error"] = {**error_summary(errs), "reference_words": len(ref)}
        work.meta["phonetics"] = meta
        work.manifest["phone_hist"] = phone_histogram(al.phones)
        work.manifest["label_source"] = source
        work.manifest["label_confidence"] = confidence
