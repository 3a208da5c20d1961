"""CRAN's view (torch-free): :class:`CranView`, and :func:`cran_view` configuring it from a
CranTrainConfig.

CRAN (Song et al. 2019, Sec. 3.2, Table 5): reference 112x112 frame + ``seq_len``
(paper: 70) consecutive frames inside the clip's longest good run (no extreme pose), each
with a 350 ms MFCC window given as ``(12, 35)`` like the audio encoder's 12x35x1 input. The
reference is a random frame of the good run. Mismatched audio for the matching-aware
discriminator ("shuffling or shifting the audio feature", Sec. 3.2): ``mismatch="shift"``
takes the windows of the frames ``d`` away, ``|d| >= min_shift`` (default 9 frames =
360 ms >= the 350 ms window, so no mismatched window shares audio with its frame's true
window), from anywhere in the clip's valid audio; when the clip is too short for that,
or with ``mismatch="shuffle"``, the sequence's own windows are permuted so no frame keeps
its own (``mismatch_shift`` is then 0). Clips whose good run is shorter than ``seq_len``
are skipped (``too_short``).

In training, ``rae`` items are ``seq_len`` (70) consecutive frames of the clip's longest good
run; the CAE stages read ``cae_frames`` consecutive frames per clip and train each on its
own. Every item carries ``mfcc_mismatch``: the same frames' windows shifted by at least
``min_shift`` frames (or deranged when the clip is too short), the matching-aware
discriminator's mismatched audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avprep.reader.sample import ShardSample
from avprep.reader.views import Item, View, add_frames, good_run_mask, pick, valid_starts
from models.cran.config import CranTrainConfig

__all__ = ["CranConfig", "CranView", "cran_view", "derangement"]


@dataclass
class CranConfig:
    seq_len: int = 70
    track: str = "mfcc_cran"
    stream: str = "crop112"
    mismatch: str = "shift"  # "shift" | "shuffle"
    min_shift: int = 9  # frames; 9 x 40 ms >= the 350 ms window
    random_start: bool = True
    defer_jpeg: bool = False

    def __post_init__(self) -> None:
        if self.mismatch not in ("shift", "shuffle"):
            raise ValueError(f"mismatch must be 'shift' or 'shuffle', not {self.mismatch!r}")
        if self.seq_len < 2 and self.mismatch == "shuffle":
            raise ValueError("mismatch='shuffle' needs seq_len >= 2")


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` with no fixed point (n >= 2)."""
    while True:
        p = rng.permutation(n)
        if not np.any(p == np.arange(n)):
            return p


class CranView(View):
    """CRAN items: ``reference`` (112,112,3), ``frames`` (L,112,112,3) uint8, ``mfcc`` and
    ``mfcc_mismatch`` (L,12,35) float32, ``mismatch_shift`` (frames; 0 = shuffled),
    ``frame_index`` (L,), ``reference_index``, ``key``."""

    name = "cran"

    def __init__(self, config: CranConfig | None = None) -> None:
        super().__init__()
        self.config = config or CranConfig()

    def required(self) -> tuple[str, ...]:
        return (self.config.stream, "face_ok", "meta:" + self.config.track, self.config.track)

    def items(self, sample: ShardSample, rng: np.random.Generator) -> list[Item]:
        cfg, L = self.config, self.config.seq_len
        self.check(sample)
        fw = sample.windows(cfg.track)
        run = good_run_mask(sample)
        starts = valid_starts(fw.valid & run, L)
        if len(starts) == 0:
            return self._skip("too_short")
        s = pick(starts, rng, cfg.random_start)
        idx = np.arange(s, s + L)
        mfcc = fw.windows[idx]
        shift = 0
        if cfg.mismatch == "shift":
            others = valid_starts(fw.valid, L)
            others = others[np.abs(others - s) >= cfg.min_shift]
            if len(others):
                shift = int(others[rng.integers(len(others))]) - s
        if shift:
            mismatch = fw.windows[idx + shift]
        elif L >= 2:
            mismatch = mfcc[derangement(L, rng)]
        else:
            return self._skip("no_mismatch")
        in_run = np.nonzero(run)[0]
        r = int(in_run[rng.integers(len(in_run))])
        item: Item = {
            "key": sample.key,
            "mfcc": np.ascontiguousarray(mfcc.transpose(0, 2, 1)),
            "mfcc_mismatch": np.ascontiguousarray(mismatch.transpose(0, 2, 1)),
            "mismatch_shift": shift,
            "frame_index": idx,
            "reference_index": r,
        }
        add_frames(item, sample, cfg.stream, idx, r, "reference", cfg.defer_jpeg)
        return [item]


def cran_view(config: CranTrainConfig) -> CranView:
    return CranView(
        CranConfig(
            seq_len=config.frames_per_item,
            track=config.track,
            stream=config.stream,
            mismatch=config.mismatch,
            min_shift=config.min_shift,
        )
    )
