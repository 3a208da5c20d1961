"""Crop streams as shard members: per-frame JPEG (default) or one H.264 MP4 per stream.

Member names are :mod:`avprep.sample_format`'s.
``jpg``: members ``<stream>_<frame:05d>.jpg`` (e.g. ``crop256_00000.jpg``), each a baseline
JPEG any viewer opens, decodable one frame at a time (random access for training).
``mp4``: members ``<stream>.mp4``, H.264 (libx264 via PyAV), yuv420p, 25 fps, CRF ``crf``.
The default is ``mp4``, chosen by measurement (``benchmarks/bench_face.py``, 29-frame
256x256 clip, all three streams, one core): MP4 CRF 18 is ~41 KB per clip in the tar vs
~940 KB for JPEG q95 (~690 KB at q90); PSNR against q100 crops 39 dB vs 45 dB; decoding
crop256 runs at ~2200 frames/s per core for both (all three MP4 streams ~2900 frames/s,
JPEG ~4700). The test clip animates a still photo, which flatters H.264; expect a smaller
gap on real video. Use ``jpg`` where per-frame random access matters more than size.
Those figures predate two changes made for byte-identical rebuilds (issue 11): the colour
conversion is :func:`rgb_to_yuv420p` (integer arithmetic, not libswscale) and x264 runs with
``mbtree=0``; on the demo crops at CRF 18 that makes the MP4s ~35-70 % larger at ~1 dB
higher PSNR (CRF 20 gives about the old size and quality). ``crop256`` is now stored 260x260.
Issue 18 dropped x264's inter sub-partitions (:data:`X264_PARAMS`): +3-6 % bytes, then its
adaptive B-frames and scene-cut search (-1-3 % bytes, same PSNR), and took
luma from OpenCV's fixed-point BT.601 (1 level apart from the older 8-bit formula in 7 % of
colours, closer to the exact value).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from avprep.face.config import X264_PRESET, X264_PRESETS  # noqa: F401 (re-exported)
from avprep.sample_format import crop_format, crop_jpg_frames, crop_jpg_member, crop_mp4_member

if TYPE_CHECKING:
    import av

# PyAV and OpenCV are imported where they are used: a DataLoader worker reading a jpg build
# never loads PyAV, one reading an mp4 build never loads OpenCV (issue 12)

STREAMS = ("crop256", "crop112", "mouth")


class MissingFrameError(KeyError):
    """A frame asked for is not among a JPEG crop stream's members."""

    def __init__(self, member: str, frame: int) -> None:
        super().__init__(member)
        self.member, self.frame = member, frame


class TruncatedStreamError(ValueError):
    """An MP4 crop stream holds fewer frames than asked for."""


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not a decodable JPEG")
    return img[:, :, ::-1]


def rgb_to_yuv420p(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, 3) RGB uint8 (H, W even) -> yuv420p planes Y (H, W), Cb and Cr (H/2, W/2).

    BT.601 limited range in integer arithmetic, so no rounding depends on the machine (the
    luma's bytes do depend on OpenCV's formula, recorded as ``versions.opencv``):
    - luma is OpenCV's ``COLOR_RGB2YUV_I420`` luma, 20-bit fixed point:
      ``Y = (269484 R + 528482 G + 102760 B + (16 << 20) + (1 << 19)) >> 20`` (a test checks
      all 2^24 colours). It is within 0.58 of the exact BT.601 value (the common 8-bit form,
      ``(66 R + 129 G + 25 B + 128) >> 8``, within 0.76) and ~5x faster than that form in numpy.
    - chroma from the sum of each 2x2 block (centre siting; OpenCV's I420 chroma takes the
      block's top-left pixel, which aliases): ``Cb = ((-38 Rs - 74 Gs + 112 Bs + 512) >> 10)
      + 128``, ``Cr = ((112 Rs - 94 Gs - 18 Bs + 512) >> 10) + 128``.
    Not libswscale: its rgb24 -> yuv420p output depends on where the numpy buffer lies in
    memory (PyAV hands it over without copying: the same pixels at another address gave other
    YUV bytes), and a float matrix product's rounding depends on BLAS kernels; either made two
    builds of the same input write different MP4 bytes.
    """
    import cv2

    rgb = np.ascontiguousarray(rgb)
    y = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)[: rgb.shape[0]]

    def sum2x2(plane: np.ndarray) -> np.ndarray:  # 4x the mean of each 2x2 block (<= 1020)
        rows = plane[0::2].astype(np.uint16)
        rows += plane[1::2]
        return (rows[:, 0::2] + rows[:, 1::2]).astype(np.int32)

    rs, gs, bs = (sum2x2(p) for p in cv2.split(rgb))  # planar: numpy's fast strided loops
    cb = ((-38 * rs - 74 * gs + 112 * bs + 512) >> 10) + 128  # 16..240: no clipping needed
    cr = ((112 * rs - 94 * gs - 18 * bs + 512) >> 10) + 128
    return y, cb.astype(np.uint8), cr.astype(np.uint8)


def _yuv420p_frame(planes: tuple[np.ndarray, np.ndarray, np.ndarray]) -> av.VideoFrame:
    """A yuv420p ``VideoFrame`` whose every byte is set, row padding included (FFmpeg pads
    rows to an aligned line size and leaves the padding uninitialised; nothing the encoder can
    read is left to chance). Padding repeats each row's last pixel."""
    import av

    h, w = planes[0].shape
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, planes, strict=True):
        rows, cols = data.shape
        buf = np.frombuffer(plane, np.uint8)  # the plane's own memory, written in place
        in_place = buf.flags.writeable  # else (a PyAV lending planes read-only): via a copy
        if not in_place:
            buf = np.empty(plane.buffer_size, np.uint8)
        padded = buf[: rows * plane.line_size].reshape(rows, plane.line_size)
        padded[:, :cols] = data
        padded[:, cols:] = data[:, -1:]
        buf[rows * plane.line_size :] = 0
        if not in_place:
            plane.update(buf.tobytes())
    return frame


# x264 settings of the crop streams (chosen by measurement, ``benchmarks/bench_build_speed.py``,
# crops of LRW-like clips, one core):
# - preset veryfast (FaceConfig.mp4_preset; any of config.X264_PRESETS may be asked for).
# - mbtree=0, whatever the preset: with x264's macroblock-tree rate control (and adaptive
#   quantisation) on, the same frames gave different bytes in ~5 % of encodes after heap
#   churn (PyAV 18's libx264); with mbtree off, 150 of 150 repeated encodes were identical.
# - with the default preset only:
#   - partitions=i8x8,i4x4: no inter sub-partitions (p8x8/b8x8 and smaller, which veryfast
#     searches). x264's CPU -15 to -35 % (the demo's crops, and the same with moving lips and
#     grain) for +3 to +6 % bytes and -0.07 dB PSNR at CRF 18.
#   - b-adapt=0:scenecut=0: a fixed B-frame pattern and no scene-cut search, so x264 skips
#     its low-resolution look-ahead analysis. Another -15 % CPU (~9 ms a clip) for -1 to -3 %
#     bytes and -0.01 to -0.05 dB: no worse at equal bytes. A crop stream follows one face,
#     so a cut inside a clip is rare; there, CRF still holds the quality (the frame after
#     the cut spends more bits), and every stream starts with an IDR frame anyway.
#   superfast at equal PSNR (CRF 19) is faster again but +7 to +13 % bytes. A preset asked
#   for explicitly is x264's own (a user who picks ``faster`` wants smaller files).
X264_PARAMS = "mbtree=0:partitions=i8x8,i4x4:b-adapt=0:scenecut=0"


def x264_params(preset: str = X264_PRESET) -> str:
    """The ``x264-params`` the crop streams are encoded with under ``preset`` (see above)."""
    return X264_PARAMS if preset == X264_PRESET else "mbtree=0"


def x264_settings(preset: str, crf: int) -> str:
    """One line naming the crop streams' encoder settings (recorded in every sample)."""
    return f"{preset} crf {crf} {x264_params(preset)}"


def encode_mp4(
    frames: np.ndarray,
    fps: float = 25.0,
    crf: int = 18,
    preset: str = X264_PRESET,
    params: str | None = None,
) -> bytes:
    """(T,H,W,3) RGB uint8 (H, W even) -> H.264 MP4 bytes, the same bytes for the same
    frames in any process (the colour conversion is :func:`rgb_to_yuv420p`). ``preset``:
    x264's; ``params``: ``x264-params``, by default :func:`x264_params` of the preset (other
    values serve the benchmark)."""
    if params is None:
        params = x264_params(preset)
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        st = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        st.width, st.height = int(frames.shape[2]), int(frames.shape[1])
        st.pix_fmt = "yuv420p"
        st.options = {
            "crf": str(crf), "preset": preset, "threads": "1", "x264-params": params,
        }  # fmt: skip
        for f in frames:
            for pkt in st.encode(_yuv420p_frame(rgb_to_yuv420p(f))):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return buf.getvalue()


def decode_mp4(data: bytes) -> np.ndarray:
    import av
    from av.video.reformatter import VideoReformatter

    rgb = VideoReformatter()  # one swscale context per stream, not one per frame (media.py)
    with av.open(io.BytesIO(data)) as inp:
        st = inp.streams.video[0]
        st.thread_count = 1  # as _decode_mp4_frames: DataLoader workers are the parallelism
        return np.stack([rgb.reformat(f, format="rgb24").to_ndarray() for f in inp.decode(st)])


def encode_streams(
    crops: dict[str, np.ndarray],
    image_format: str,
    quality: int = 95,
    crf: int = 18,
    preset: str = X264_PRESET,
) -> dict[str, bytes]:
    """{stream: (T,H,W,3)} -> shard members (see module doc); ``preset`` is x264's (mp4)."""
    files: dict[str, bytes] = {}
    for name, frames in crops.items():
        if image_format == "jpg":
            for t, f in enumerate(frames):
                files[crop_jpg_member(name, t)] = encode_jpeg(f, quality)
        elif image_format == "mp4":
            files[crop_mp4_member(name)] = encode_mp4(frames, crf=crf, preset=preset)
        else:
            raise ValueError(f"unknown crop image format {image_format!r}")
    return files


def decode_stream(
    files: dict[str, bytes], stream: str, indices: Sequence[int] | None = None
) -> np.ndarray:
    """RGB uint8 ``(T, H, W, 3)`` frames of crop stream ``stream`` from a sample's members:
    all of them, or frames ``indices`` in that order. JPEG streams decode only the frames asked
    for; MP4 streams decode up to the last one asked for (one thread: DataLoader workers are
    the parallelism). No such stream: KeyError; a JPEG frame missing:
    :class:`MissingFrameError`; an MP4 that ends early: :class:`TruncatedStreamError`."""
    kind = crop_format(files, stream)
    if kind is None:
        raise KeyError(f"no {stream} crops among the sample's members")
    if kind == "jpg":
        if indices is None:
            return np.stack([decode_jpeg(d) for d in crop_jpg_frames(files, stream)])
        return np.stack([decode_jpeg(d) for d in jpeg_frames(files, stream, indices)])
    data = files[crop_mp4_member(stream)]
    if indices is None:
        return decode_mp4(data)
    return _decode_mp4_frames(data, [int(i) for i in indices], crop_mp4_member(stream))


def jpeg_frames(files: dict[str, bytes], stream: str, indices: Sequence[int]) -> list[bytes]:
    """The encoded JPEG members of frames ``indices`` (:class:`MissingFrameError` if absent)."""
    out = []
    for i in indices:
        member = crop_jpg_member(stream, i)
        data = files.get(member)
        if data is None:
            raise MissingFrameError(member, int(i))
        out.append(data)
    return out


def _decode_mp4_frames(data: bytes, idx: list[int], member: str) -> np.ndarray:
    import av  # here: a worker reading a jpg build never loads PyAV
    from av.video.reformatter import VideoReformatter

    wanted: dict[int, list[int]] = {}
    for pos, i in enumerate(idx):
        wanted.setdefault(i, []).append(pos)
    last = max(idx)
    out: list[np.ndarray | None] = [None] * len(idx)
    to_rgb = VideoReformatter()  # one swscale context per stream (see decode_mp4)
    with av.open(io.BytesIO(data)) as container:
        st = container.streams.video[0]
        st.thread_count = 1
        for n, frame in enumerate(container.decode(st)):
            if n in wanted:
                rgb = to_rgb.reformat(frame, format="rgb24").to_ndarray()
                for pos in wanted[n]:
                    out[pos] = rgb
            if n >= last:
                break
    if any(o is None for o in out):
        got = sum(o is not None for o in out)
        raise TruncatedStreamError(
            f"{member} ended before frame {last} ({got} of {len(idx)} frames decoded)"
        )
    return np.stack(out)  # type: ignore[arg-type]
