"""DAVS data views (torch-free): the reader's views with MFCC windows as the networks read
them. (The views live in :mod:`avprep.reader.views` until they move here.)

The official loader reads each frame's MFCC window as ``reshape(20, 12)``: 20 steps of
100 Hz time x 12 coefficients (``Data_load_sequence.py``); :class:`DavsTrainView` hands on
``mfcc`` as ``(L, 20, 12)`` whichever of the two layouts the reader's view produces.
"""

from __future__ import annotations

import numpy as np

from avprep.reader.views import DavsConfig, DavsIdentityConfig, DavsIdentityView, DavsView

MFCC_STEPS = 20
MFCC_COEFFICIENTS = 12

__all__ = [
    "DavsConfig",
    "DavsIdentityConfig",
    "DavsIdentityView",
    "DavsTrainView",
    "time_major_mfcc",
]


def time_major_mfcc(mfcc: np.ndarray) -> np.ndarray:
    """(..., 12, 20) or (..., 20, 12) -> (..., 20, 12) (time x coefficient)."""
    tail = mfcc.shape[-2:]
    if tail == (MFCC_STEPS, MFCC_COEFFICIENTS):
        return mfcc
    if tail == (MFCC_COEFFICIENTS, MFCC_STEPS):
        return np.ascontiguousarray(np.swapaxes(mfcc, -1, -2))
    raise ValueError(f"DAVS MFCC windows must be 20 steps x 12 coefficients, got {mfcc.shape}")


class DavsTrainView(DavsView):
    """:class:`DavsView` for the word and joint stages: ``mfcc`` as ``(L, 20, 12)``; clips
    without a word id skipped (``no_word_id``: both stages classify words; a build may mix
    word clips with other clips, like the demo's); with ``with_audio``, the clip's 16 kHz
    ``audio`` under the L frames (float32, ``L * 16000 / fps`` samples from the first frame's
    start, zero past the end), for sample videos with sound."""

    SAMPLE_RATE = 16000

    def __init__(
        self, config: DavsConfig | None = None, with_audio: bool = True, require_word: bool = True
    ) -> None:
        super().__init__(config)
        self.with_audio = with_audio
        self.require_word = require_word

    def items(self, sample, rng):  # type: ignore[no-untyped-def]
        if self.require_word and int(sample.label("word_id", -1)) < 0:
            return self._skip("no_word_id")
        out = super().items(sample, rng)
        for item in out:
            item["mfcc"] = time_major_mfcc(item["mfcc"])
            if self.with_audio:
                item["audio"] = frames_audio(sample.audio(), item["frame_index"], sample.fps)
        return out


def frames_audio(audio: np.ndarray, frame_index: np.ndarray, fps: float) -> np.ndarray:
    """The samples under consecutive video frames ``frame_index`` (zero-padded)."""
    per_frame = DavsTrainView.SAMPLE_RATE / fps
    start = int(round(int(frame_index[0]) * per_frame))
    n = int(round(len(frame_index) * per_frame))
    out = np.zeros(n, dtype=np.float32)
    piece = np.asarray(audio, dtype=np.float32)[start : start + n]
    out[: len(piece)] = piece
    return out
