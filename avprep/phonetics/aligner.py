"""The forced-aligner interface and the checks every backend shares.

A :class:`PhoneAligner` turns 16 kHz mono float32 audio plus a transcript into an
:class:`~avprep.phonetics.alignment.Alignment` (word and phone intervals in seconds), or
raises :class:`~avprep.clips.ClipRejected` with reason ``empty_transcript``, ``no_speech``
or ``alignment_failed``. ``align_many`` exists for backends that pay a start-up cost per
call (MFA runs one process per batch, adapting per speaker); the default just loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from avprep.clips import ClipRejected
from avprep.phonetics.alignment import Alignment
from avprep.phonetics.lexicon import normalize_transcript

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class AlignRequest:
    """One utterance for :meth:`PhoneAligner.align_many`."""

    key: str
    audio: np.ndarray  # float32 mono 16 kHz
    transcript: str
    speaker: str | None = None


@runtime_checkable
class PhoneAligner(Protocol):
    name: str

    def setup(self) -> None:
        """Load the model / check the executable once per worker."""

    def align(self, audio: np.ndarray, transcript: str) -> Alignment:
        """Align one utterance or raise ClipRejected."""

    def align_many(self, requests: Sequence[AlignRequest]) -> list[Alignment | ClipRejected]:
        """Align a batch; each result is an Alignment or the ClipRejected for that clip."""

    def versions(self) -> dict[str, str]:
        """Versions of the aligner and its model, for build.json and each sample."""


def transcript_words(transcript: str | None) -> list[str]:
    """Normalised words, or ClipRejected('empty_transcript') if nothing speakable is left."""
    words = normalize_transcript(transcript or "")
    if not words:
        raise ClipRejected("empty_transcript", f"no words in transcript {transcript!r}")
    return words


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    return (np.clip(a, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def speech_seconds(audio: np.ndarray, frame_s: float = 0.03) -> float:
    """Seconds of audio that look like speech: 30 ms frames whose energy is above -50 dBFS
    and 12 dB above the clip's 10th-percentile frame energy (stationary noise and tones
    fail this), and that WebRTC's VAD (bundled with pocketsphinx, strict mode) accepts."""
    from pocketsphinx import Vad

    vad = Vad(Vad.STRICT, SAMPLE_RATE, frame_s)
    n = vad.frame_bytes // 2
    pcm = to_pcm16(audio)
    frames = pcm[: len(pcm) // n * n].reshape(-1, n)
    if len(frames) == 0:
        return 0.0
    energy = 10 * np.log10(np.mean((frames.astype(np.float64) / 32768.0) ** 2, axis=1) + 1e-12)
    loud = energy > max(-50.0, float(np.percentile(energy, 10)) + 12.0)
    speech = [bool(loud[i]) and vad.is_speech(frames[i].tobytes()) for i in range(len(frames))]
    return float(np.sum(speech)) * n / SAMPLE_RATE


def require_speech(audio: np.ndarray, min_speech_s: float) -> None:
    s = speech_seconds(audio)
    if s < min_speech_s:
        raise ClipRejected(
            "no_speech", f"{s:.2f}s of speech-like audio found, at least {min_speech_s}s needed"
        )


def align_each(aligner: PhoneAligner, requests: Sequence[AlignRequest]) -> list:
    """``align_many`` for backends with nothing to gain from batching."""
    out: list[Alignment | ClipRejected] = []
    for r in requests:
        try:
            out.append(aligner.align(r.audio, r.transcript))
        except ClipRejected as e:
            out.append(e)
    return out
