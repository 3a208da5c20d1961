"""Per-method views: one shard sample -> the numpy items a trainer consumes.

A view is a callable ``view(sample, rng) -> list[dict]`` (zero items when the sample cannot
serve this method, e.g. too short; the reason is counted in ``view.skipped``). Items hold
numpy arrays, ints and the sample key; ``models.data`` stacks them into tensors. Images are
RGB uint8 ``(..., H, W, 3)`` as stored (convert on the device, see
``models.data.images_to_float``). Audio windows are cut from the stored 100 Hz tracks with
:meth:`ShardSample.windows`, i.e. exactly :func:`avprep.features.windows.frame_windows` under
the convention the build recorded, so every window lies on real audio (``_valid``).

Choices per paper (the papers leave these open unless a section is cited):

- **Crops with a margin**: ``crop256`` is stored 260x260 (the official DAVS crop, margin 2;
  ``face.templates.crop256.margin``). Every view hands out 256x256 images: the centre
  (offset = margin, the official test-time crop) unless a view augments; ``crop_box``
  ``(x0, y0, size)`` says which part of the stored (after ``flip``: mirrored) image an item
  holds, so :func:`map_points` carries crop256 landmarks onto it. Deferred JPEG bytes are
  the stored images: apply ``crop_box``/``flip`` after decoding.
- **DAVS** (Zhou et al. 2019, Sec. 4 "Datasets"): aligned 256x256 faces and "a mfcc audio
  input with size of 12x20" per frame; the official training augmentation
  (``Dataloader/Data_load_sequence.py``): per clip one random horizontal flip and one random
  256 crop of the stored 260 crop (offsets 0..4 in x and y), the same for every frame of the
  clip and its identity frame; ``augment=False`` (evaluation) gives the centre crop. We
  give ``mfcc`` as ``(L, 12, 20)`` (coefficients x 100 Hz steps). ``seq_len`` consecutive
  frames whose MFCC windows are all valid and whose face is ok; default 24 = every such
  frame of a 29-frame LRW clip under the official DAVS pairing
  (0-based frame n takes MFCC steps 4n-8 .. 4n+11, as the official ``n.jpg``/``n.bin``: frames
  2..25 are valid, frames 0-1 need steps before the audio, frames 26-28 steps past it; build
  a ``pad_edge`` feature config to use all 29). ``identity_frame``: a random
  good frame of the same clip, the "random k-th frame" that gives the pid feature (Sec. 3.3).
  ``word_id`` (LRW's 500 classes) and ``person_id`` are -1 where the corpus has none; person
  ids come from identity samples, read with :class:`DavsIdentityView`.
- **CRAN** (Song et al. 2019, Sec. 3.2, Table 5): reference 112x112 frame + ``seq_len``
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
- **DVAE** (Mittal et al. 2020, Sec. 4.1-4.2) stage 1: 200 ms segments of the 200-bin
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
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avprep.features.noise import noise_track_name
from avprep.labels import EMOTIONS
from avprep.reader.sample import MissingFieldError, ShardSample

Item = dict[str, Any]
IMAGE_KEYS = frozenset({"frames", "identity_frame", "reference", "image"})


def valid_starts(ok: np.ndarray, length: int) -> np.ndarray:
    """Starts ``s`` such that ``ok[s : s + length]`` is all true."""
    ok = np.asarray(ok, dtype=bool)
    if length < 1 or len(ok) < length:
        return np.zeros(0, dtype=np.int64)
    c = np.concatenate([[0], np.cumsum(~ok)])
    return np.nonzero(c[length:] - c[:-length] == 0)[0].astype(np.int64)


def pick(candidates: np.ndarray, rng: np.random.Generator, random: bool) -> int:
    return int(candidates[rng.integers(len(candidates))] if random else candidates[0])


def key_hash_id(key: str) -> int:
    """Stable non-negative 31-bit id of a key (same on every machine and process)."""
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:4], "little") & 0x7FFFFFFF


def _face_ok(sample: ShardSample) -> np.ndarray:
    ok = sample.array("face_ok").astype(bool)
    if ok.shape != (sample.n_frames,):
        raise ValueError(f"sample {sample.key!r}: face_ok has shape {ok.shape}")
    return ok


def _good_run(sample: ShardSample) -> np.ndarray:
    """Bool mask of the clip's longest run of good frames (face stage meta)."""
    face = sample.meta.get("face")
    if not face or "good_run_start" not in face:
        raise sample.missing("face.good_run_start")
    mask = np.zeros(sample.n_frames, dtype=bool)
    s, n = int(face["good_run_start"]), int(face["good_run_length"])
    mask[s : s + n] = True
    return mask


class View(ABC):
    """Base: counts skipped samples by reason; subclasses implement ``items``."""

    name = "view"
    kinds: tuple[str, ...] = ("clip",)
    items_per_sample = 1  # > 1: the loader mixes items of several samples in a buffer

    def __init__(self) -> None:
        self.skipped: Counter[str] = Counter()

    def __call__(self, sample: ShardSample, rng: np.random.Generator) -> list[Item]:
        if sample.kind not in self.kinds:
            self.skipped[f"kind_{sample.kind}"] += 1
            return []
        out = self.items(sample, rng)
        if not out:
            self.skipped[getattr(self, "_reason", "unusable")] += 1
        return out

    @abstractmethod
    def items(self, sample: ShardSample, rng: np.random.Generator) -> list[Item]:
        """The items of one sample of an accepted kind."""

    def _skip(self, reason: str) -> list[Item]:
        self._reason = reason
        return []

    def required(self) -> tuple[str, ...]:
        """Members this view reads (checked once per sample, before any decoding)."""
        return ()

    def check(self, sample: ShardSample) -> None:
        for name in self.required():
            if name in ("crop256", "crop112", "mouth"):
                sample.stream_format(name)
            elif name.startswith("meta:"):
                if name[5:] not in (sample.meta.get("audio_features") or {}):
                    raise sample.missing(name[5:])
            elif f"{name}.npy" not in sample.fields:
                raise sample.missing(name)


def _noise_choice(noise_db: float | Sequence[float | None] | None, rng: np.random.Generator):
    if noise_db is None or isinstance(noise_db, int | float):
        return noise_db
    levels = list(noise_db)
    return levels[int(rng.integers(len(levels)))]


def _track_name(track: str, level: float | None) -> str:
    return track if level is None else noise_track_name(track, float(level))


# --------------------------------------------------------------------------- DAVS


@dataclass
class DavsConfig:
    seq_len: int = 24
    track: str = "mfcc_davs"
    stream: str = "crop256"
    random_start: bool = True  # False: the first usable window (evaluation)
    augment: bool = True  # official random flip + random 256 crop of 260; False: centre crop
    defer_jpeg: bool = False  # jpg builds: hand JPEG bytes on (decoded on the GPU)


class DavsView(View):
    """DAVS clip items: ``frames`` (L,256,256,3) uint8, ``mfcc`` (L,12,20) float32,
    ``identity_frame`` (256,256,3) uint8, ``word_id``, ``person_id``, ``frame_index`` (L,),
    ``identity_index``, ``crop_box`` (x0, y0, 256), ``flip``, ``key``."""

    name = "davs"

    def __init__(self, config: DavsConfig | None = None) -> None:
        super().__init__()
        self.config = config or DavsConfig()

    def required(self) -> tuple[str, ...]:
        return (self.config.stream, "face_ok", "meta:" + self.config.track, self.config.track)

    def items(self, sample: ShardSample, rng: np.random.Generator) -> list[Item]:
        cfg = self.config
        self.check(sample)
        fw = sample.windows(cfg.track)
        margin = stored_margin(sample, cfg.stream)
        if cfg.augment:  # official: flip = randint(0, 2); crop_x, crop_y = randint(0, 5)
            flip = bool(rng.integers(2))
            x0, y0 = (int(v) for v in rng.integers(0, 2 * margin + 1, size=2))
        else:
            flip, x0, y0 = False, margin, margin
        face_ok = _face_ok(sample)
        starts = valid_starts(fw.valid & face_ok, cfg.seq_len)
        if len(starts) == 0:
            return self._skip("too_short")
        s = pick(starts, rng, cfg.random_start)
        idx = np.arange(s, s + cfg.seq_len)
        good = np.nonzero(face_ok)[0]
        k = int(good[rng.integers(len(good))])
        item: Item = {
            "key": sample.key,
            "mfcc": np.ascontiguousarray(fw.windows[idx].transpose(0, 2, 1)),
            "word_id": int(sample.label("word_id", -1)),
            "person_id": int(sample.label("person_id", -1)),
            "frame_index": idx,
            "identity_index": k,
        }
        _add_frames(
            item, sample, cfg.stream, idx, k, "identity_frame", cfg.defer_jpeg, (x0, y0), flip
        )
        return [item]


def stored_margin(sample: ShardSample, stream: str) -> int:
    """Pixels stored on each side of a crop stream beyond its nominal size (0 if none)."""
    templates = (sample.meta.get("face") or {}).get("templates") or {}
    return int((templates.get(stream) or {}).get("margin", 0))


def crop_stored(
    frames: np.ndarray,
    margin: int,
    x0: int | None = None,
    y0: int | None = None,
    flip: bool = False,
) -> np.ndarray:
    """Cut the nominal crop from stored ``(..., S, S, 3)`` frames (``S = size + 2 margin``):
    mirror first when ``flip`` (as the official DAVS loader does), then take rows
    ``y0 .. y0 + size`` and columns ``x0 .. x0 + size`` (default: the centre, ``margin``)."""
    if margin == 0 and not flip:
        return frames
    x0 = margin if x0 is None else x0
    y0 = margin if y0 is None else y0
    if not (0 <= x0 <= 2 * margin and 0 <= y0 <= 2 * margin):
        raise ValueError(f"crop offset ({x0}, {y0}) outside 0..{2 * margin}")
    size = frames.shape[-2] - 2 * margin
    if flip:
        frames = frames[..., :, ::-1, :]
    return np.ascontiguousarray(frames[..., y0 : y0 + size, x0 : x0 + size, :])


def map_points(points: np.ndarray, margin: int, crop_box: Sequence[int], flip: bool) -> np.ndarray:
    """``(..., 2)`` points in the centred nominal crop (e.g. ``landmarks_crop256``) -> pixel
    coordinates in the image an item holds (``crop_box``, ``flip`` from the item)."""
    p = np.array(points, dtype=np.float64, copy=True)
    x0, y0, size = (int(v) for v in crop_box)
    stored = size + 2 * margin
    p[..., 0] += margin
    p[..., 1] += margin
    if flip:
        p[..., 0] = stored - 1 - p[..., 0]
    p[..., 0] -= x0
    p[..., 1] -= y0
    return p


def _add_frames(
    item: Item,
    sample: ShardSample,
    stream: str,
    idx: np.ndarray,
    extra: int | None,
    extra_name: str,
    defer_jpeg: bool,
    offset: tuple[int, int] | None = None,
    flip: bool = False,
) -> None:
    """``frames`` (and one extra frame) decoded and cut to the nominal size (``offset`` into
    the stored crop, default its centre; ``flip`` mirrors first), or as the stored JPEG bytes
    when deferring. Sets ``crop_box`` and ``flip`` on the item."""
    margin = stored_margin(sample, stream)
    x0, y0 = (margin, margin) if offset is None else offset
    wanted = [*idx.tolist(), *([] if extra is None else [extra])]
    if defer_jpeg and sample.stream_format(stream) == "jpg":
        data = sample.jpeg_members(stream, wanted)
        item["frames_jpeg"] = data[: len(idx)]
        if extra is not None:
            item[f"{extra_name}_jpeg"] = data[-1]
        size = None
    else:
        frames = crop_stored(sample.frames(stream, wanted), margin, x0, y0, flip)
        item["frames"] = frames[: len(idx)]
        if extra is not None:
            item[extra_name] = frames[-1]
        size = frames.shape[-2]
    if size is None:
        templates = (sample.meta.get("face") or {}).get("templates") or {}
        size = int((templates.get(stream) or {}).get("crop_size", 0))
    item["crop_box"] = np.array([x0, y0, size], dtype=np.int64)
    item["flip"] = bool(flip)


@dataclass
class DavsIdentityConfig:
    stream: str = "crop256"
    defer_jpeg: bool = False


class DavsIdentityView(View):
    """Identity-face items for DAVS's person-ID space (an MS-Celeb-1M-like folder build):
    ``image`` (256,256,3) uint8 (the centre crop), one random good image of the identity,
    ``person_id``."""

    name = "davs_identity"
    kinds = ("identity",)

    def __init__(self, config: DavsIdentityConfig | None = None) -> None:
        super().__init__()
        self.config = config or DavsIdentityConfig()

    def required(self) -> tuple[str, ...]:
        return (self.config.stream, "face_ok")

    def items(self, sample: ShardSample, rng: np.random.Generator) -> list[Item]:
        self.check(sample)
        good = np.nonzero(_face_ok(sample))[0]
        if len(good) == 0:
            return self._skip("no_good_face")
        k = int(good[rng.integers(len(good))])
        item: Item = {
            "key": sample.key,
            "person_id": int(sample.label("person_id", required=True)),
            "image_index": k,
        }
        stream = self.config.stream
        margin = stored_margin(sample, stream)
        if self.config.defer_jpeg and sample.stream_format(stream) == "jpg":
            item["image_jpeg"] = sample.jpeg_members(stream, [k])[0]
            templates = (sample.meta.get("face") or {}).get("templates") or {}
            size = int((templates.get(stream) or {}).get("crop_size", 0))
        else:
            item["image"] = crop_stored(sample.frames(stream, [k]), margin)[0]
            size = item["image"].shape[-2]
        item["crop_box"] = np.array([margin, margin, size], dtype=np.int64)
        item["flip"] = False
        return [item]


# --------------------------------------------------------------------------- CRAN


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
        run = _good_run(sample)
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
        _add_frames(item, sample, cfg.stream, idx, r, "reference", cfg.defer_jpeg)
        return [item]


# --------------------------------------------------------------------------- DVAE


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
        level = _noise_choice(cfg.noise_db, rng)
        fw = sample.windows(_track_name(cfg.track, level))
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
        level = _noise_choice(cfg.noise_db, rng)
        fw = sample.windows(_track_name(cfg.track, level))
        run = _good_run(sample)
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
        _add_frames(item, sample, cfg.stream, idx, r, "reference", cfg.defer_jpeg)
        return [item]


VIEWS: dict[str, type[View]] = {
    v.name: v for v in (DavsView, DavsIdentityView, CranView, DvaeSegmentView, DvaeFaceView)
}
