"""16-bit PCM: the one quantisation of a clip's audio.

A shard stores its audio as 16-bit FLAC, and every feature track must be computable from
exactly those samples (the official DAVS code also reads 16-bit wav: ``audioread`` gives
``int16 / 32768``). So the decoded float audio is quantised once, right after decoding
(:class:`avprep.clip_processor.ClipProcessor`), and everything downstream (features, alignment, the
FLAC writer) sees the quantised samples ``q / 32768`` with ``q`` int16. Those are exact in
float32, and libsndfile reads 16-bit FLAC back as ``q / 32768``, so recomputing a track
from the shard's FLAC is bit-identical to the stored track.
"""

from __future__ import annotations

import numpy as np

PCM16_SCALE = 32768.0


def to_pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1) -> int16 ``clip(rint(x * 32768), -32768, 32767)``."""
    x = np.asarray(audio, dtype=np.float64) * PCM16_SCALE
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def from_pcm16(pcm: np.ndarray) -> np.ndarray:
    """int16 -> float32 ``q / 32768`` (what libsndfile returns for 16-bit files)."""
    return (np.asarray(pcm, dtype=np.int16).astype(np.float32) / np.float32(PCM16_SCALE)).astype(
        np.float32
    )


def quantize_pcm16(audio: np.ndarray) -> np.ndarray:
    """The float32 samples a 16-bit file stores for ``audio`` (idempotent)."""
    return from_pcm16(to_pcm16(audio))
