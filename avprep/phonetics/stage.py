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

Rejections: ``empty_transcript``, ``no_speech``, ``alignment_failed`` (see the aligners);
for recognised clips ``no_speech`` and ``nothing_recognized``.
"""

from __future__ import annotations

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
    viseme_ids,
)
from avprep.phonetics.lexicon import normalize_transcript
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
        requests = [
            AlignRequest(
                works[i].ref.key,
                works[i].media.audio,
                works[i].ref.transcript or "",
                works[i].ref.speaker,
            )  # fmt: skip
            for i in todo
        ]
        aligned = self.aligner.align_many(requests) if requests else []
        for i, res in zip(todo, aligned, strict=True):
            if isinstance(res, ClipRejected):
                results[i] = res
            else:
                self._write(works[i], res)
        return results

    def _recognize(self, work: ClipWork) -> ClipRejected | None:
        self._setup_recognizer()
        try:
            rec = self.recognizer.recognize(work.media.audio)
        except ClipRejected as e:
            return e
        self._write(work, rec.alignment, rec)
        return None

    def _write(self, work: ClipWork, al: Alignment, rec: Recognition | None = None) -> None:
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
        timings = work.ref.labels.get("word_timings")
        if timings:
            ref = reference_words(timings)
            errs = boundary_errors(ref, al.words)
            meta["word_boundary_error"] = {**error_summary(errs), "reference_words": len(ref)}
        work.meta["phonetics"] = meta
        work.manifest["phone_hist"] = phone_histogram(al.phones)
        work.manifest["label_source"] = source
        work.manifest["label_confidence"] = confidence
