"""Label tables shared by the corpus adapters (which write labels into shards) and the
readers/trainers (which turn them into class ids), in a module that imports nothing, so a
DataLoader worker reading shards does not import the corpus adapters.

- CREMA-D emotions (DVAE's emotion labels, Mittal et al. 2020 Sec. 4): the six codes in
  CREMA-D's file names; ``emotion_id`` in the shards is the index in :data:`EMOTIONS`.
- LRW (DAVS's word labels, Zhou et al. 2019): 500 word classes, 29-frame clips at 25 fps;
  ``word_id`` is the index of the word in the official (alphabetical) word list.
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
EMOTION_NAMES: dict[str, str] = {
    "ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}  # fmt: skip
EMOTION_INTENSITIES: dict[str, str] = {
    "LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified",
}  # fmt: skip

LRW_NUM_WORDS = 500
LRW_CLIP_FRAMES = 29


def emotion_id(code: str) -> int:
    """Index of a CREMA-D emotion code (``"NEU"`` -> 4); a clear error for unknown codes."""
    try:
        return EMOTIONS.index(code.upper())
    except ValueError:
        raise ValueError(f"unknown emotion code {code!r} (known: {', '.join(EMOTIONS)})") from None
