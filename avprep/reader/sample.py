"""One shard sample as the reader sees it: validated metadata, lazily decoded members.

:class:`ShardSample` parses and validates the ``json`` member once (schema version and
shape, :func:`avprep.schema.validate_sample_meta`), then decodes only what a view asks for:
an ``.npy`` array, some frames of a crop stream, the audio, a track's per-frame windows.
A member that is not there raises :class:`MissingFieldError`, whose message names the
field and the build step / ``avprep build`` option that writes it, instead of a KeyError
inside a DataLoader worker.

Shards are untrusted input: before anything is decoded, the sample's own metadata must agree
with itself and its members (``n_frames`` with ``duration`` and with the FLAC's sample count,
read from its header), and every ``.npy`` array's header (shape, dtype) must agree with its
byte size, the per-member limit and the sample's ``n_frames`` / recorded track shape. A
disagreement raises :class:`DamagedSampleError` naming the shard, the sample and the member,
so a forged header cannot make a reader allocate gigabytes.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import soundfile as sf

from avprep import sample_format as fmt
from avprep.face.crop_codec import (
    MissingFrameError,
    TruncatedStreamError,
    decode_stream,
    jpeg_frames,
)
from avprep.features.config import FEATURE_CONFIGS, config_from_dict
from avprep.features.tracks import TrackTiming
from avprep.features.windows import FrameWindows, frame_windows
from avprep.schema import SchemaError, validate_sample_meta
from avprep.shards import member_byte_limit

FACE_ARRAYS = (
    "landmarks_src", "landmarks_crop256", "landmarks_crop112", "landmarks_mouth",
    "transform256", "transform112", "transform_mouth", "pose", "face_ok", "face_state",
    "face_box",
)  # fmt: skip
PHONETIC_ARRAYS = ("phone_ids_25fps", "viseme_ids_25fps", "phone_ids_100hz", "viseme_ids_100hz")
CROP_STREAMS = ("crop256", "crop112", "mouth")


# arrays with one row per video frame (identity samples: one per kept image)
PER_FRAME_ARRAYS = frozenset(
    (*FACE_ARRAYS, "phone_ids_25fps", "viseme_ids_25fps")
)  # fmt: skip
PER_HOP_ARRAYS = frozenset(("phone_ids_100hz", "viseme_ids_100hz"))  # one per 160 samples


class DamagedSampleError(SchemaError):
    """A sample whose members disagree with its own metadata (forged or damaged shard)."""


class MissingFieldError(KeyError):
    """A sample lacks a member or metadata field a view needs (message says how to get it)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def _noise_base(name: str) -> tuple[str, str] | None:
    if "_noise" in name and name.endswith("db"):
        base, _, level = name.rpartition("_noise")
        return base, level[: -len("db")].replace("p", ".")
    return None


def field_hint(name: str, meta: dict[str, Any] | None = None) -> str:
    """How a build makes member/field ``name`` (the part of the error a user acts on)."""
    meta = meta or {}
    base = name[: -len("_valid")] if name.endswith("_valid") else name
    if name in CROP_STREAMS or name in FACE_ARRAYS or name.startswith("face."):
        hint = "the face stage writes it: build with --face-backend dlib (or fan)"
        if "frames" in meta and "face" not in meta:
            hint += "; this build ran with --face-backend none and holds full frames only"
        if meta.get("kind") == "identity" and name in CROP_STREAMS:
            hint += "; identity samples hold crop streams only when their face was found"
        return hint
    noisy = _noise_base(base)
    if noisy is not None:
        feat, level = noisy
        return (
            f"the audio-features stage writes noisy copies: build with --features {feat} "
            f"--noise-db {level} (and --noise-features {feat} if you restrict them)"
        )
    if base in FEATURE_CONFIGS or base in (meta.get("audio_features") or {}):
        hint = f"the audio-features stage writes it: build with --features {base}"
        if meta.get("kind") == "identity":
            hint += "; identity samples (images) have no audio"
        return hint
    if name in PHONETIC_ARRAYS:
        status = (meta.get("phonetics") or {}).get("status")
        hint = "the phonetics stage writes it: build with --aligner pocketsphinx (or mfa)"
        if status == "no_transcript":
            hint += "; this clip has no transcript (give one with --transcripts)"
        return hint
    if name == fmt.AUDIO:
        return "every clip sample has audio; identity samples (images) have none"
    if name.startswith("labels."):
        return "the corpus adapter sets labels (word_id: LRW; person_id: identity folders)"
    if base.startswith(("mfcc", "logspec")):
        return f"the audio-features stage writes it: build with --features {base}"
    return "no build step of this avprep writes it"


def missing(key: str, url: str | None, name: str, meta: dict[str, Any]) -> MissingFieldError:
    where = f" (shard {url})" if url else ""
    return MissingFieldError(f"{name} missing in sample {key!r}{where}: {field_hint(name, meta)}")


@lru_cache(maxsize=256)
def _window_config(config_json: str) -> Any:
    return config_from_dict(json.loads(config_json))


@dataclass
class ShardSample:
    """A decoded-on-demand shard sample. Build with :meth:`from_fields`."""

    key: str
    fields: dict[str, bytes]
    meta: dict[str, Any]
    url: str | None = None
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def from_fields(
        cls, key: str, fields: dict[str, bytes], url: str | None = None, validate: bool = True
    ) -> ShardSample:
        """Parse (and validate) the ``json`` member; wrong schema -> :class:`SchemaError`."""
        where = f" (shard {url})" if url else ""
        if fmt.META not in fields:
            raise SchemaError(f"sample {key!r}{where} has no json member: not an avprep shard")
        try:
            meta = json.loads(fields[fmt.META])
        except ValueError as e:
            raise SchemaError(f"sample {key!r}{where}: json member is not JSON: {e}") from e
        if validate:
            try:
                validate_sample_meta(meta)
            except SchemaError as e:
                raise SchemaError(f"{e}{where}") from None
            sample = cls(key, fields, meta, url)
            sample._check_extent()
            return sample
        return cls(key, fields, meta, url)

    def damaged(self, member: str, what: str) -> DamagedSampleError:
        where = f"shard {self.url}, " if self.url else ""
        return DamagedSampleError(
            f"{where}sample {self.key!r}, member {member}: {what}; the shard is damaged or "
            "was not written by avprep"
        )

    def _check_extent(self) -> None:
        """``n_frames`` agrees with ``duration`` and the audio's length (module docstring)."""
        n, fps = self.n_frames, self.fps
        if n < 1 or not fps > 0 or abs(n - float(self.meta["duration"]) * fps) > 1.0:
            raise self.damaged(
                fmt.META, f"n_frames={n} disagrees with duration={self.meta['duration']} s"
            )
        limit = member_byte_limit()
        rate = int(self.meta.get("sample_rate") or 16000)
        want = int(round(n * rate / fps))
        if want * 4 > limit:  # the clip's float32 audio: what any view may decode for it
            raise self.damaged(
                fmt.META, f"n_frames={n} means {want * 4} bytes of audio, over the {limit}-byte "
                "limit per member (AVPREP_MAX_MEMBER_BYTES)",
            )  # fmt: skip
        data = self.fields.get(fmt.AUDIO)
        if data is not None:
            try:
                got = sf.info(io.BytesIO(data)).frames
            except RuntimeError as e:
                raise self.damaged(fmt.AUDIO, f"not a readable FLAC ({e})") from None
            if got != want:
                raise self.damaged(
                    fmt.AUDIO, f"{got} samples, but n_frames={n} at {fps:g} fps needs {want}"
                )

    # ------------------------------------------------------------------ metadata
    @property
    def n_frames(self) -> int:
        return int(self.meta["n_frames"])

    @property
    def fps(self) -> float:
        return float(self.meta["fps"])

    @property
    def split(self) -> str:
        return str(self.meta["split"])

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    @property
    def labels(self) -> dict[str, Any]:
        return self.meta.get("labels") or {}

    def label(self, name: str, default: Any = None, required: bool = False) -> Any:
        value = self.labels.get(name)
        if value is None:
            if required:
                raise missing(self.key, self.url, f"labels.{name}", self.meta)
            return default
        return value

    def missing(self, name: str) -> MissingFieldError:
        return missing(self.key, self.url, name, self.meta)

    def has(self, member: str) -> bool:
        return member in self.fields

    def has_array(self, name: str) -> bool:
        """Whether the sample stores array ``name`` (its ``<name>.npy`` member)."""
        return fmt.array_member(name) in self.fields

    # ------------------------------------------------------------------ members
    def array(self, name: str) -> np.ndarray:
        """The ``<name>.npy`` member (cached), after its header is checked (module doc)."""
        if name not in self._arrays:
            data = self.fields.get(fmt.array_member(name))
            if data is None:
                raise self.missing(name)
            self._check_npy(name, data)
            self._arrays[name] = np.load(io.BytesIO(data), allow_pickle=False)
        return self._arrays[name]

    def _check_npy(self, name: str, data: bytes) -> None:
        member = fmt.array_member(name)
        f = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(f)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, _, dtype = read_header(f)
        except (ValueError, OSError, SyntaxError, TypeError) as e:
            raise self.damaged(member, f"not a readable .npy array ({e})") from None
        if dtype.hasobject:
            raise self.damaged(member, "holds Python objects, which avprep never writes")
        nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        if nbytes != len(data) - f.tell():
            raise self.damaged(
                member, f"header says {shape} {dtype} ({nbytes} bytes) but holds "
                f"{len(data) - f.tell()} bytes",
            )  # fmt: skip
        expected = self._expected_rows(name)
        if expected is not None and (not shape or shape[0] != expected):
            raise self.damaged(
                member, f"shape {shape} does not have the {expected} rows this sample's "
                "metadata gives it",
            )  # fmt: skip
        entry = (self.meta.get("audio_features") or {}).get(name)
        if entry is not None and list(shape) != [int(x) for x in entry.get("shape", [])]:
            raise self.damaged(member, f"shape {shape} differs from the recorded {entry['shape']}")

    def _expected_rows(self, name: str) -> int | None:
        if name in PER_FRAME_ARRAYS or name.endswith("_valid"):
            return self.n_frames
        if name in PER_HOP_ARRAYS:
            rate = int(self.meta.get("sample_rate") or 16000)
            return int(round(self.n_frames * rate / self.fps)) // 160
        return None

    def audio(self) -> np.ndarray:
        """float32 mono audio (16 kHz, ``n_frames * 640`` samples)."""
        data = self.fields.get(fmt.AUDIO)
        if data is None:
            raise self.missing(fmt.AUDIO)
        audio, _ = sf.read(io.BytesIO(data), dtype="float32")
        return audio

    def stream_format(self, stream: str) -> str:
        """``"mp4"`` or ``"jpg"`` for crop stream ``stream``; missing -> MissingFieldError."""
        kind = fmt.crop_format(self.fields, stream)
        if kind is None:
            raise self.missing(stream)
        return kind

    def _missing_frame(self, stream: str, e: MissingFrameError) -> MissingFieldError:
        return MissingFieldError(
            f"{e.member} missing in sample {self.key!r}: frame {e.frame} of {self.n_frames}; "
            f"{field_hint(stream, self.meta)}"
        )

    def jpeg_members(self, stream: str, indices: Sequence[int]) -> list[bytes]:
        """The encoded JPEG bytes of frames ``indices`` (jpg builds: for decoding on a GPU)."""
        try:
            return jpeg_frames(self.fields, stream, indices)
        except MissingFrameError as e:
            raise self._missing_frame(stream, e) from None

    def frames(self, stream: str, indices: Sequence[int]) -> np.ndarray:
        """RGB uint8 ``(len(indices), H, W, 3)`` frames of a crop stream, in ``indices`` order
        (:func:`avprep.face.crop_codec.decode_stream`: JPEG builds decode only the frames
        asked for, MP4 builds the stream up to the last one)."""
        self.stream_format(stream)  # no such stream: MissingFieldError naming the option
        try:
            return decode_stream(self.fields, stream, [int(i) for i in indices])
        except MissingFrameError as e:
            raise self._missing_frame(stream, e) from None
        except TruncatedStreamError as e:
            raise ValueError(f"sample {self.key!r}: {e}; the shard is damaged") from None

    # ------------------------------------------------------------------ audio features
    def track_entry(self, name: str) -> dict[str, Any]:
        entry = (self.meta.get("audio_features") or {}).get(name)
        if entry is None:
            raise self.missing(name)
        return entry

    def windows(self, name: str) -> FrameWindows:
        """Per-video-frame windows of track ``name`` (e.g. ``logspec_dvae_noise-30db``), cut
        with the convention, timing and usable range the build recorded for it, exactly as
        :func:`avprep.features.windows.frame_windows` cuts them. The validity is checked
        against the stored ``<feature>_valid`` mask."""
        entry = self.track_entry(name)
        config = _window_config(json.dumps(entry["config"], sort_keys=True))
        t = entry["timing"]
        timing = TrackTiming(
            int(t["sample_rate"]), int(t["hop_length"]), int(t["win_length"]),
            int(t["first_start"]),
        )  # fmt: skip
        usable = (int(entry["usable_steps"][0]), int(entry["usable_steps"][1]))
        track = self.array(name)
        # the track must span the clip: n_frames cannot ask for windows far past its end
        n_samples = self.n_frames * timing.sample_rate / self.fps
        if not (0 <= usable[0] <= usable[1] <= track.shape[0]) or (
            track.shape[0] * timing.hop_length + timing.win_length + 2 * timing.hop_length
            < n_samples
        ):
            raise self.damaged(
                fmt.array_member(name),
                f"{track.shape[0]} steps (usable {list(usable)}) cannot cover "
                f"n_frames={self.n_frames}",
            )
        fw = frame_windows(track, self.n_frames, self.fps, config.window, timing, usable)
        valid_key = entry.get("valid_key")
        if valid_key and fmt.array_member(valid_key) in self.fields:
            stored = self.array(valid_key)
            if stored.shape != fw.valid.shape or not np.array_equal(stored, fw.valid):
                raise SchemaError(
                    f"sample {self.key!r}: {valid_key} disagrees with the windows recomputed "
                    f"from the stored {name} track; the shard was written by an incompatible "
                    "avprep version: rebuild it"
                )
        return fw
