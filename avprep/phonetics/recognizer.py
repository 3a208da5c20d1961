"""Phone labels without a transcript: recognition with the models the pocketsphinx wheel ships.

Two methods, both on pocketsphinx's bundled en-us acoustic model:

- ``"words"`` (default): word recognition with the bundled English trigram LM
  (``en-us.lm.bin``, CMU dictionary), then a phone-alignment pass over the recognised
  words (``set_alignment`` on the recognition's own segmentation, as the forced aligner's
  second pass does). Confidence: the duration-weighted mean of the recognised words'
  lattice posteriors (pocketsphinx's ``bestpath`` forward-backward), so mumbled, foreign
  or non-speech audio that the LM forces into English words scores low.
- ``"phones"``: a phone loop constrained by the bundled phonetic LM
  (``en-us-phone.lm.bin``, ``allphone`` search). It has no lattice and so no posterior;
  its confidence is the share of the clip's speech-like seconds that it labels as phones
  (not silence or filler). That catches silence, tones and noise but not foreign speech.

On the bundled recordings the word path is the more accurate (README, "Phone labels without
a transcript"), hence the default. Rejections: ``no_speech`` (the speech check of the forced
aligner finds too little speech-like audio), ``nothing_recognized`` (no phone came out).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from avprep.clips import ClipRejected
from avprep.phonetics.aligner import SAMPLE_RATE, speech_seconds, to_pcm16
from avprep.phonetics.alignment import Alignment, Interval, tile_phones
from avprep.phonetics.phoneset import PHONE_ID, SIL, normalize_phone
from avprep.stages import package_version

RECOGNIZERS = ("words", "phones")
_ALT = re.compile(r"\(\d+\)$")  # was(2) -> was


def _is_filler(name: str) -> bool:
    """pocketsphinx's non-speech units: <s>, </s>, <sil>, [NOISE], +NSN+, +SPN+, SIL."""
    return name.startswith(("<", "[", "+")) or name.upper() == SIL


@dataclass
class RecognizerConfig:
    method: str = "words"  # "words" | "phones"
    hmm: str | None = None  # acoustic model dir; None = the bundled en-us model
    lm: str | None = None  # word LM; None = the bundled en-us.lm.bin
    phone_lm: str | None = None  # phonetic LM; None = the bundled en-us-phone.lm.bin
    dictionary: str | None = None  # None = the bundled CMU dictionary
    min_speech_s: float = 0.3  # less speech-like audio than this -> no_speech


@dataclass
class Recognition:
    """What a recognizer returns: the labels (as an aligner would give them), a confidence in
    [0, 1] and the recognised text (words, or phones for the phone loop)."""

    alignment: Alignment
    confidence: float
    hypothesis: str
    method: str


class PocketSphinxRecognizer:
    name = "pocketsphinx-recognizer"

    def __init__(self, config: RecognizerConfig | None = None) -> None:
        self.config = config or RecognizerConfig()
        if self.config.method not in RECOGNIZERS:
            raise ValueError(
                f"unknown recognizer {self.config.method!r}: choose one of {RECOGNIZERS}"
            )
        self._decoder = None

    def _paths(self) -> dict[str, str]:
        from pocketsphinx import get_model_path

        base = os.path.join(get_model_path(), "en-us")
        c = self.config
        return {
            "hmm": c.hmm or os.path.join(base, "en-us"),
            "lm": c.lm or os.path.join(base, "en-us.lm.bin"),
            "allphone": c.phone_lm or os.path.join(base, "en-us-phone.lm.bin"),
            "dict": c.dictionary or os.path.join(base, "cmudict-en-us.dict"),
        }

    def setup(self) -> None:
        if self._decoder is not None:
            return
        from pocketsphinx import Decoder

        paths = self._paths()
        for path in paths.values():
            if not os.path.exists(path):
                raise FileNotFoundError(f"pocketsphinx model file not found: {path}")
        if self.config.method == "words":
            # fwdflat off and at most 3000 active HMMs per frame: on the bundled recordings
            # this lowered the phone error rate from 0.16 to 0.10 and the real-time factor
            # from 0.18 to 0.13 against pocketsphinx's defaults (benchmarks/bench_align.py;
            # a 5-clip set, so read it as "no worse", not as a tuned optimum).
            self._decoder = Decoder(
                hmm=paths["hmm"],
                lm=paths["lm"],
                dict=paths["dict"],
                fwdflat=False,
                maxhmmpf=3000,
                loglevel="FATAL",
            )
        else:
            # lw 2.0: pocketsphinx's documented setting for phone-loop decoding
            self._decoder = Decoder(
                hmm=paths["hmm"], allphone=paths["allphone"], lw=2.0, loglevel="FATAL"
            )

    def versions(self) -> dict[str, str]:
        model = "bundled en-us" if not self.config.hmm else os.path.basename(self.config.hmm)
        lm = "en-us.lm.bin" if self.config.method == "words" else "en-us-phone.lm.bin"
        return {"pocketsphinx": package_version("pocketsphinx"), "pocketsphinx_model": model,
                "recognizer": self.config.method, "recognizer_lm": lm}  # fmt: skip

    def _decode(self, pcm: bytes) -> None:
        d = self._decoder
        d.reinit_feat()  # a fresh front end per utterance, as in PocketSphinxAligner._decode
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()

    def recognize(self, audio: np.ndarray) -> Recognition:
        """Labels for one utterance, or ClipRejected (no_speech, nothing_recognized)."""
        self.setup()
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        speech_s = speech_seconds(audio)
        if speech_s < self.config.min_speech_s:
            raise ClipRejected(
                "no_speech",
                f"{speech_s:.2f}s of speech-like audio found, at least "
                f"{self.config.min_speech_s}s needed to recognise phones",
            )
        pcm = to_pcm16(audio).tobytes()
        duration = len(audio) / SAMPLE_RATE
        if self.config.method == "words":
            return self._recognize_words(pcm, duration)
        return self._recognize_phones(pcm, duration, speech_s)

    def _recognize_phones(self, pcm: bytes, duration: float, speech_s: float) -> Recognition:
        d = self._decoder
        self._decode(pcm)
        frate = float(d.config["frate"])
        phones = []
        for s in d.seg():
            label = SIL if _is_filler(s.word) else normalize_phone(s.word)
            phones.append(Interval(s.start_frame / frate, (s.end_frame + 1) / frate, label))
        tiled = tile_phones(phones, duration)
        spoken = [p for p in tiled if p.label != SIL]
        if not spoken:
            raise ClipRejected("nothing_recognized", "the phone loop found no phones")
        covered = sum(p.end - p.start for p in spoken)
        confidence = float(min(1.0, covered / max(speech_s, 1e-6)))
        return Recognition(
            Alignment(words=[], phones=tiled, duration=duration, aligner=self.name),
            round(confidence, 4),
            " ".join(p.label for p in spoken),
            "phones",
        )

    def _recognize_words(self, pcm: bytes, duration: float) -> Recognition:
        d = self._decoder
        d.activate_search()  # the LM search (the alignment pass below replaces it)
        self._decode(pcm)
        frate = float(d.config["frate"])
        words: list[tuple[str, float, float]] = []  # (word, seconds, posterior)
        for s in d.seg():
            if not _is_filler(s.word):
                words.append(
                    (_ALT.sub("", s.word), (s.end_frame + 1 - s.start_frame) / frate, s.prob)
                )
        if not words:
            raise ClipRejected("nothing_recognized", "no words recognised")
        weight = sum(w[1] for w in words)
        confidence = sum(w[1] * w[2] for w in words) / max(weight, 1e-9)
        try:
            d.set_alignment()  # phone alignment of the recognised segmentation
            self._decode(pcm)
            result = d.get_alignment()
        except RuntimeError as e:
            raise ClipRejected("nothing_recognized", f"phone alignment failed: {e}") from None
        finally:
            d.activate_search()
        word_iv: list[Interval] = []
        phone_iv: list[Interval] = []
        for w in result or []:
            start, end = w.start / frate, (w.start + w.duration) / frate
            if _is_filler(w.name):
                continue
            word_iv.append(Interval(start, end, _ALT.sub("", w.name)))
            for p in w:
                label = normalize_phone(p.name)
                if label in PHONE_ID:
                    phone_iv.append(
                        Interval(p.start / frate, (p.start + p.duration) / frate, label)
                    )
        if not phone_iv:
            raise ClipRejected("nothing_recognized", "no phones in the recognised words")
        return Recognition(
            Alignment(
                words=word_iv,
                phones=tile_phones(phone_iv, duration),
                duration=duration,
                aligner=self.name,
            ),
            round(float(confidence), 4),
            " ".join(w[0] for w in words),
            "words",
        )


def phone_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """Levenshtein distance between two phone sequences (SIL dropped) / reference length."""
    ref = [p for p in reference if p != SIL]
    hyp = [p for p in hypothesis if p != SIL]
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / max(len(ref), 1)


def histogram_cosine(a: list[int] | np.ndarray, b: list[int] | np.ndarray) -> float:
    """Cosine similarity of two phone histograms (0 when either is empty)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y / n) if n > 0 else 0.0
