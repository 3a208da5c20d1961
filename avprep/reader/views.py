"""The generic view base: one shard sample -> the numpy items a trainer consumes.

A view is a callable ``view(sample, rng) -> list[dict]`` (zero items when the sample cannot
serve this method, e.g. too short; the reason is counted in ``view.skipped``). Items hold
numpy arrays, ints and the sample key; ``models.data`` stacks them into tensors. Images are
RGB uint8 ``(..., H, W, 3)`` as stored (convert on the device, see
``models.data.images_to_float``). Audio windows are cut from the stored 100 Hz tracks with
:meth:`ShardSample.windows`, i.e. exactly :func:`avprep.features.windows.frame_windows` under
the convention the build recorded, so every window lies on real audio (``_valid``).

Each method's own view lives in its package (``models/<method>/view.py``: DAVS, CRAN, DVAE,
each with what its paper asks and why); this module holds what they share:

- **Crops with a margin**: ``crop256`` is stored 260x260 (the official DAVS crop, margin 2;
  ``face.templates.crop256.margin``). Every view hands out 256x256 images: the centre
  (offset = margin, the official test-time crop) unless a view augments; ``crop_box``
  ``(x0, y0, size)`` says which part of the stored (after ``flip``: mirrored) image an item
  holds, so :func:`map_points` carries crop256 landmarks onto it. Deferred JPEG bytes are
  the stored images: apply ``crop_box``/``flip`` after decoding.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from avprep.features.noise import noise_track_name
from avprep.reader.sample import ShardSample

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


def face_ok_mask(sample: ShardSample) -> np.ndarray:
    ok = sample.array("face_ok").astype(bool)
    if ok.shape != (sample.n_frames,):
        raise ValueError(f"sample {sample.key!r}: face_ok has shape {ok.shape}")
    return ok


def good_run_mask(sample: ShardSample) -> np.ndarray:
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
            elif not sample.has_array(name):
                raise sample.missing(name)


def noise_choice(noise_db: float | Sequence[float | None] | None, rng: np.random.Generator):
    """The noise level of one clip: ``noise_db`` itself, or one drawn from a list of levels."""
    if noise_db is None or isinstance(noise_db, int | float):
        return noise_db
    levels = list(noise_db)
    return levels[int(rng.integers(len(levels)))]


def track_name(track: str, level: float | None) -> str:
    """The stored track under noise ``level`` (the clean track for None)."""
    return track if level is None else noise_track_name(track, float(level))


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


def add_frames(
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
