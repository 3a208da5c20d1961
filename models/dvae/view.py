"""DVAE's views: :class:`avprep.reader.views.DvaeSegmentView` (stage 1) and
:class:`~avprep.reader.views.DvaeFaceView` (stage 2), wrapped with what the trainers add.
Torch-free.

- :class:`DvaeSegments`: the sequence id comes from the run's table (several builds in one
  table); a clip outside it (a validation clip) gets ``sequence_id = -1`` instead of an error,
  and every item carries ``n_segments``, the valid segments of its clip (N of Eq. 3, from the
  track's ``n_valid`` the build recorded).
- :class:`DvaeFaces`: for clips outside the training splits, the same frames' segments under
  each evaluation noise level (``segments_noise-30db`` ...), cut from the build's stored noisy
  track when it has one, else computed at read time from the stored audio with the build's own
  noise recipe (:func:`avprep.features.noise.add_white_noise`) and the track's recorded
  configuration, so a new level needs no rebuild (the stored audio is 16-bit FLAC, the build
  noised the decoded float audio: the two copies differ by that quantisation, a median
  0.001 dB on the demo clips). Training never sees noise (paper Sec. 4.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from avprep.features.configs import config_from_dict
from avprep.features.noise import add_white_noise, noise_level_tag, noise_track_name
from avprep.features.tracks import TrackTiming, compute_track
from avprep.features.windows import FrameWindows, frame_windows
from avprep.reader.sample import ShardSample
from avprep.reader.views import DvaeConfig, DvaeFaceView, DvaeSegmentView, Item

__all__ = ["DvaeConfig", "DvaeFaces", "DvaeSegments", "noisy_key", "noisy_windows"]


def noisy_key(level_db: float) -> str:
    """Item key of the segments under noise ``level_db``: ``segments_noise-30db``."""
    return f"segments_noise{noise_level_tag(level_db)}db"


def noisy_windows(sample: ShardSample, track: str, level_db: float, seed: int = 0) -> FrameWindows:
    """Windows of ``track`` with white noise at ``level_db``: the stored noisy copy when the
    build made one, else recomputed from the stored audio exactly as the build would."""
    name = noise_track_name(track, level_db)
    if name in (sample.meta.get("audio_features") or {}):
        return sample.windows(name)
    entry = sample.track_entry(track)
    config = config_from_dict(entry["config"])
    audio = add_white_noise(sample.audio(), level_db, sample.key, seed)
    t = entry["timing"]
    timing = TrackTiming(
        int(t["sample_rate"]), int(t["hop_length"]), int(t["win_length"]), int(t["first_start"])
    )
    usable = (int(entry["usable_steps"][0]), int(entry["usable_steps"][1]))
    track_arr = compute_track(audio, config)
    return frame_windows(track_arr, sample.n_frames, sample.fps, config.window, timing, usable)


class DvaeSegments(DvaeSegmentView):
    """Stage-1 segments with the run's sequence table (-1 outside it) and ``n_segments``."""

    def __init__(
        self, config: DvaeConfig | None = None, sequence_ids: Mapping[str, int] | None = None
    ):
        cfg = config or DvaeConfig()
        if cfg.sequence_ids is not None:
            raise ValueError("pass the sequence table as sequence_ids=, not in DvaeConfig")
        super().__init__(cfg)
        self.sequence_ids = dict(sequence_ids or {})

    def items(self, sample: ShardSample, rng: np.random.Generator) -> list[Item]:
        out = super().items(sample, rng)
        if not out:
            return out
        seq = self.sequence_ids.get(sample.key, -1)
        n_valid = int(sample.track_entry(self.config.track).get("n_valid") or len(out))
        for item in out:
            item["sequence_id"] = seq
            item["n_segments"] = n_valid
        return out


class DvaeFaces(DvaeFaceView):
    """Stage-2 sequences, plus noisy copies of the segments for clips outside ``train_splits``."""

    def __init__(
        self,
        config: DvaeConfig | None = None,
        noise_levels_db: Sequence[float] = (),
        train_splits: Sequence[str] = ("train",),
        noise_seed: int = 0,
    ) -> None:
        super().__init__(config or DvaeConfig())
        self.noise_levels_db = tuple(float(x) for x in noise_levels_db)
        self.train_splits = frozenset(train_splits)
        self.noise_seed = noise_seed

    def items(self, sample: ShardSample, rng: np.random.Generator) -> list[Item]:
        out = super().items(sample, rng)
        if not out or sample.split in self.train_splits:
            return out
        for item in out:
            idx = np.asarray(item["frame_index"])
            for level in self.noise_levels_db:
                fw = noisy_windows(sample, self.config.track, level, self.noise_seed)
                item[noisy_key(level)] = fw.windows[idx].astype(np.float32)
        return out
