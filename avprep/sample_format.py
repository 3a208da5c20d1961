"""How a sample is stored in a shard: the one place that spells its member names, for the
writer (:class:`~avprep.clip_processor.ClipProcessor`, :mod:`avprep.face.crop_codec`) and the reader
(:class:`~avprep.reader.sample.ShardSample`) side by side.

A sample is ``(key, {member: bytes})`` and each member is the tar file ``<key>.<member>``
(:mod:`avprep.shards`). Members:

==========================  =========================================================
``json``                    the sample's metadata (:mod:`avprep.schema`), listing every
                            member under ``members``
``flac``                    16 kHz mono 16-bit audio (clip samples; identity samples
                            have none)
``<name>.npy``              an array: face tracks, audio feature tracks, phone ids ...
``<stream>.mp4``            a crop stream (``crop256``, ``crop112``, ``mouth``) as H.264
``<stream>_<t:05d>.jpg``    or the same stream as one JPEG per frame ``t``
``f<i:05d>.jpg``            downscaled full frames, in builds without a face stage
                            (the pattern is recorded as ``meta["frames"]["pattern"]``)
==========================  =========================================================

Identity samples (folders of photos) number frames by kept image: :func:`renumber_frame`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

META = "json"
AUDIO = "flac"
ARRAY_SUFFIX = ".npy"
FULL_FRAME_PATTERN = "f{:05d}.jpg"
IMAGE_SUFFIXES = (".jpg", ".png")

_CROP_JPG = re.compile(r"^(?P<stream>[a-z0-9]+)_(?P<frame>\d{5})\.jpg$")
_FRAME_INDEX = re.compile(r"\d{5}(?=\.\w+$)")


def array_member(name: str) -> str:
    """``pose`` -> ``pose.npy``."""
    return f"{name}{ARRAY_SUFFIX}"


def is_array_member(member: str) -> bool:
    return member.endswith(ARRAY_SUFFIX)


def crop_mp4_member(stream: str) -> str:
    """``crop256`` -> ``crop256.mp4`` (the whole stream, H.264)."""
    return f"{stream}.mp4"


def crop_jpg_member(stream: str, frame: int) -> str:
    """``crop256``, 3 -> ``crop256_00003.jpg`` (one frame, JPEG)."""
    return f"{stream}_{int(frame):05d}.jpg"


def full_frame_member(index: int) -> str:
    """3 -> ``f00003.jpg`` (a downscaled full frame, builds without faces)."""
    return FULL_FRAME_PATTERN.format(int(index))


def is_image_member(member: str) -> bool:
    return member.endswith(IMAGE_SUFFIXES)


def renumber_frame(member: str, index: int) -> str:
    """A per-frame member of one identity image -> the same member as frame ``index``
    (``crop256_00000.jpg`` of the 4th kept image -> ``crop256_00003.jpg``); other members
    are returned as they are."""
    return _FRAME_INDEX.sub(f"{int(index):05d}", member, count=1)


def crop_format(members: Mapping[str, bytes] | set[str], stream: str) -> str | None:
    """``"mp4"`` or ``"jpg"``: how crop stream ``stream`` is stored; None when absent."""
    if crop_mp4_member(stream) in members:
        return "mp4"
    if crop_jpg_member(stream, 0) in members:
        return "jpg"
    return None


def crop_jpg_frames(members: Mapping[str, bytes], stream: str) -> list[bytes]:
    """The JPEG members of crop stream ``stream``, in frame order."""
    frames = sorted(
        (int(m["frame"]), data)
        for name, data in members.items()
        if (m := _CROP_JPG.match(name)) and m["stream"] == stream
    )
    return [data for _, data in frames]
