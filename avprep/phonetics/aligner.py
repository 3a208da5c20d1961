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


# The speech check. Each 30 ms frame must pass all of:
# - level: above -50 dBFS (quieter is silence or room noise);
# - WebRTC's VAD (bundled with pocketsphinx, strict mode): a speech/noise model of six
#   sub-band energies. On its own it accepts pure tones, white noise and music;
# - spectral flatness (geometric / arithmetic mean of the power spectrum, 100-4000 Hz)
#   between FLATNESS_MIN and FLATNESS_MAX: pure tones, beeps and synthetic instruments put
#   their energy into a few isolated partials (flatness 1e-5 to 1e-9), voiced speech fills
#   the gaps between harmonics with breath noise and pitch movement (1e-4.9 to 1e-1.2 on the
#   bundled recordings, median 1e-1.9); white noise is flatter than any speech frame (a
#   Gaussian-noise periodogram's flatness is e^-0.577 = 0.56; measured 10^-0.34..-0.19);
# and the frame must sit in a run of at least MIN_RUN_FRAMES such frames (90 ms: a syllable
# is longer; note onsets and clicks are not).
# No statistic is relative to the clip's own quiet frames: a 1.16 s LRW clip is speech
# almost throughout and has none (the previous rule, "12 dB above the clip's 10th-percentile
# frame", found 0.00 s of speech in 3 of 19 such windows of the bundled recordings).
SPEECH_MIN_DBFS = -50.0
FLATNESS_MIN = 1e-4
FLATNESS_MAX = 10**-0.5
FLATNESS_BAND_HZ = (100.0, 4000.0)
MIN_RUN_FRAMES = 3


def spectral_flatness(frames: np.ndarray, band_hz: tuple[float, float] = FLATNESS_BAND_HZ):
    """Per-frame spectral flatness of int16 frames (rows) within ``band_hz``, Hann window."""
    n = frames.shape[1]
    x = frames.astype(np.float64) / 32768.0 * np.hanning(n)
    power = np.abs(np.fft.rfft(x, axis=1)) ** 2 + 1e-12
    lo, hi = (int(round(f * n / SAMPLE_RATE)) for f in band_hz)
    band = power[:, lo:hi]
    return np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)


def _long_runs(mask: np.ndarray, min_run: int) -> np.ndarray:
    """``mask`` with runs of True shorter than ``min_run`` cleared."""
    out = np.zeros_like(mask)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= min_run:
            out[start:stop] = True
    return out


def speech_frames(audio: np.ndarray, frame_s: float = 0.03) -> np.ndarray:
    """One bool per ``frame_s`` frame: does it look like speech (the rule above)?"""
    from pocketsphinx import Vad

    vad = Vad(Vad.STRICT, SAMPLE_RATE, frame_s)
    n = vad.frame_bytes // 2
    pcm = to_pcm16(audio)
    frames = pcm[: len(pcm) // n * n].reshape(-1, n)
    if len(frames) == 0:
        return np.zeros(0, bool)
    energy = 10 * np.log10(np.mean((frames.astype(np.float64) / 32768.0) ** 2, axis=1) + 1e-12)
    flat = spectral_flatness(frames)
    ok = (energy > SPEECH_MIN_DBFS) & (flat > FLATNESS_MIN) & (flat < FLATNESS_MAX)
    # every frame goes through the VAD: it adapts its noise model frame by frame
    ok &= np.array([vad.is_speech(f.tobytes()) for f in frames], dtype=bool)
    return _long_runs(ok, MIN_RUN_FRAMES)


def speech_seconds(audio: np.ndarray, frame_s: float = 0.03) -> float:
    """Seconds of audio that look like speech (see :func:`speech_frames`)."""
    frames = speech_frames(audio, frame_s)
    return float(np.sum(frames)) * round(frame_s * SAMPLE_RATE) / SAMPLE_RATE


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
