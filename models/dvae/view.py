"""DVAE's views (torch-free): :class:`DvaeSegmentView` (stage 1) and :class:`DvaeFaceView`
(stage 2), and the wrappers the trainers read through.

DVAE (Mittal et al. 2020, Sec. 4.1-4.2) stage 1: 200 ms segments of the 200-bin
log-spectrogram (T = 20), one per video frame whose window is valid, given as ``(20, 200)``
(time-major, as the LSTM encoders read them); ``viseme_id`` is the viseme (20 + SIL) at the
frame centre, which is also the segment centre (both use the centre rule); ``emotion_id``
from the corpus (CREMA-D's 6), clips without one get ``default_emotion`` (the paper labels
GRID "neutral"); ``sequence_id`` from a key -> index mapping (one per clip, for the
sequence lookup table; :func:`avprep.reader.sequence_ids` makes one from a manifest) or,
without one, a stable 31-bit hash of the key. ``segments_per_clip`` draws a random subset.
Stage 2: ``seq_len`` face frames (256x256) with their content segments, viseme ids and
mouth landmarks (points 48-67 in crop256 pixels: LMD and the landmark loss are measured on
the generated 256 crop), plus a random good frame of the clip as the input face ``I_f``.
``noise_db`` picks the track: None = clean, a level (-30) or several (one drawn per clip).

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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from avprep.features.config import config_from_dict
from avprep.features.noise import add_white_noise, noise_level_tag, noise_track_name
from avprep.features.tracks import TrackTiming, compute_track
from avprep.features.windows import FrameWindows, frame_windows
from avprep.labels import EMOTIONS
from avprep.reader.sample import MissingFieldError, ShardSample
from avprep.reader.views import (
    Item,
    View,
    add_frames,
    good_run_mask,
    key_hash_id,
    noise_choice,
    pick,
    track_name,
    valid_starts,
)

__all__ = [
    "DvaeConfig", "DvaeFaceView", "DvaeFaces", "DvaeSegmentView", "DvaeSegments", "noisy_key",
    "noisy_windows",
]  # fmt: skip


@dataclass
class DvaeConfig:
    """Shared by both DVAE stages; ``seq_len``/``stream`` only matter for stage 2."""

    track: str = "logspec_dvae"
    noise_db: float | Sequence[float | None] | None = None
    default_emotion: str | None = "NEU"  # None: -1 for clips without an emotion label
    sequence_ids: Mapping[str, int] | None = None
    segments_per_clip: int | None = None  # stage 1: None = every valid segment
    seq_len: int = 32  # stage 2 (not given by the paper)
    stream: str = "crop256"
    random_start: bool = True
    defer_jpeg: bool = False
    # [phon, issue 16] visemes recognised without a transcript are noisier than aligned
    # ones: clips labelled that way are skipped ("recognized_visemes") unless this is True
    allow_recognized_visemes: bool = False
    _default_emotion_id: int = field(init=False, default=-1)

    def __post_init__(self) -> None:
        if self.default_emotion is not None:
            if self.default_emotion not in EMOTIONS:
                raise ValueError(f"default_emotion must be one of {EMOTIONS} or None")
            self._default_emotion_id = EMOTIONS.index(self.default_emotion)


def _refuses_recognized(sample: ShardSample, cfg: DvaeConfig) -> bool:
    """[phon, issue 16] True for a clip whose visemes were recognised (no transcript) when
    the config does not allow them."""
    source = (sample.meta.get("phonetics") or {}).get("label_source")
    return source == "recognized" and not cfg.allow_recognized_visemes


def _dvae_labels(sample: ShardSample, cfg: DvaeConfig) -> tuple[int, int]:
    emotion = sample.label("emotion_id")
    emotion_id = int(emotion) if emotion is not None else cfg._default_emotion_id
    if cfg.sequence_ids is not None:
        if sample.key not in cfg.sequence_ids:
            raise MissingFieldError(
                f"sample {sample.key!r} has no entry in the sequence_ids mapping; make the "
                "mapping from the same build (avprep.reader.sequence_ids)"
            )
        seq = int(cfg.sequence_ids[sample.key])
    else:
        seq = key_hash_id(sample.key)
    return emotion_id, seq


class DvaeSegmentView(View):
    """DVAE stage 1: one item per segment: ``segment`` (20,200) float32, ``viseme_id``,
    ``emotion_id``, ``sequence_id``, ``noise_db`` (NaN = clean), ``frame_index``, ``key``."""

    name = "dvae_segments"
    items_per_sample = 2  # many: mix segments of several clips

    def __init__(self, config: DvaeConfig | None = None) -> None:
        super().__init__()
        self.config = config or DvaeConfig()

    def required(self) -> tuple[str, ...]:
        return ("viseme_ids_25fps", "meta:" + self.config.track)

    def items(self, sample: ShardSample, rng: np.random.Generator) -> list[Item]:
        cfg = self.config
        self.check(sample)
        if _refuses_recognized(sample, cfg):
            return self._skip("recognized_visemes")
        level = noise_choice(cfg.noise_db, rng)
        fw = sample.windows(track_name(cfg.track, level))
        visemes = sample.array("viseme_ids_25fps")
        frames = np.nonzero(fw.valid)[0]
        if len(frames) == 0:
            return self._skip("no_valid_segment")
        if cfg.segments_per_clip is not None and len(frames) > cfg.segments_per_clip:
            frames = np.sort(rng.choice(frames, cfg.segments_per_clip, replace=False))
        emotion_id, seq = _dvae_labels(sample, cfg)
        noise = math.nan if level is None else float(level)
        return [
            {
                "key": sample.key,
                "segment": fw.windows[i],
                "viseme_id": int(visemes[i]),
                "emotion_id": emotion_id,
                "sequence_id": seq,
                "noise_db": noise,
                "frame_index": int(i),
            }
            for i in frames
        ]


class DvaeFaceView(View):
    """DVAE stage 2: ``frames`` (L,256,256,3) uint8, ``segments`` (L,20,200) float32,
    ``viseme_ids`` (L,), ``mouth_landmarks`` (L,20,2) crop256 pixels, ``reference``
    (256,256,3), ``emotion_id``, ``sequence_id``, ``noise_db``, ``frame_index``, ``key``."""

    name = "dvae_faces"

    def __init__(self, config: DvaeConfig | None = None) -> None:
        super().__init__()
        self.config = config or DvaeConfig()

    def required(self) -> tuple[str, ...]:
        return (
            self.config.stream, "face_ok", "landmarks_crop256", "viseme_ids_25fps",
            "meta:" + self.config.track,
        )  # fmt: skip

    def items(self, sample: ShardSample, rng: np.random.Generator) -> list[Item]:
        cfg, L = self.config, self.config.seq_len
        self.check(sample)
        if _refuses_recognized(sample, cfg):
            return self._skip("recognized_visemes")
        level = noise_choice(cfg.noise_db, rng)
        fw = sample.windows(track_name(cfg.track, level))
        run = good_run_mask(sample)
        starts = valid_starts(fw.valid & run, L)
        if len(starts) == 0:
            return self._skip("too_short")
        s = pick(starts, rng, cfg.random_start)
        idx = np.arange(s, s + L)
        in_run = np.nonzero(run)[0]
        r = int(in_run[rng.integers(len(in_run))])
        emotion_id, seq = _dvae_labels(sample, cfg)
        lm = sample.array("landmarks_crop256")[idx, 48:68].astype(np.float32)
        item: Item = {
            "key": sample.key,
            "segments": fw.windows[idx],
            "viseme_ids": sample.array("viseme_ids_25fps")[idx].astype(np.int64),
            "mouth_landmarks": lm,
            "emotion_id": emotion_id,
            "sequence_id": seq,
            "noise_db": math.nan if level is None else float(level),
            "frame_index": idx,
            "reference_index": r,
        }
        add_frames(item, sample, cfg.stream, idx, r, "reference", cfg.defer_jpeg)
        return [item]


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
