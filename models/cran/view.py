"""CRAN's view: :class:`avprep.reader.views.CranView` configured from a CranTrainConfig.

Torch-free. ``rae`` items are ``seq_len`` (70) consecutive frames of the clip's longest good
run; the CAE stages read ``cae_frames`` consecutive frames per clip and train each on its
own. Every item carries ``mfcc_mismatch``: the same frames' windows shifted by at least
``min_shift`` frames (or deranged when the clip is too short), the matching-aware
discriminator's mismatched audio.
"""

from __future__ import annotations

from avprep.reader.views import CranConfig, CranView
from models.cran.config import CranTrainConfig

__all__ = ["CranConfig", "CranView", "cran_view"]


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
