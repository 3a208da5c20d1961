"""DAVS data views (torch-free): clip items for the word and joint stages, identity faces for
the pid stage, with MFCC windows as the networks read them.

DAVS (Zhou et al. 2019, Sec. 4 "Datasets"): aligned 256x256 faces and "a mfcc audio
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

The official loader reads each frame's MFCC window as ``reshape(20, 12)``: 20 steps of
100 Hz time x 12 coefficients (``Data_load_sequence.py``); :class:`DavsTrainView` hands on
``mfcc`` as ``(L, 20, 12)`` whichever of the two layouts :class:`DavsView` produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avprep.reader.sample import ShardSample
from avprep.reader.views import (
    Item,
    View,
    add_frames,
    crop_stored,
    face_ok_mask,
    pick,
    stored_margin,
    valid_starts,
)

MFCC_STEPS = 20
MFCC_COEFFICIENTS = 12

__all__ = [
    "DavsConfig",
    "DavsIdentityConfig",
    "DavsIdentityView",
    "DavsTrainView",
    "DavsView",
    "time_major_mfcc",
]


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
        face_ok = face_ok_mask(sample)
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
        add_frames(
            item, sample, cfg.stream, idx, k, "identity_frame", cfg.defer_jpeg, (x0, y0), flip
        )
        return [item]


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
        good = np.nonzero(face_ok_mask(sample))[0]
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
