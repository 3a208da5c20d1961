"""Inputs that must work (issue 19, cases 12-14): phone videos with a rotation matrix, audio
shorter than the video, several audio streams."""

from __future__ import annotations

import io
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import cv2
import imageio_ffmpeg
import numpy as np
import soundfile as sf

from avprep.clip_processor import ClipProcessor
from avprep.clips import ClipRef
from avprep.config import BuildConfig
from avprep.datasets.demo_media import _encode_audio, animate_face, write_talking_clip
from avprep.features.config import get_feature_config
from avprep.features.tracks import track_timing
from avprep.features.windows import window_validity
from avprep.media import DecodeConfig, decode_clip
from avprep.reader.sample import ShardSample


def _set_display_matrix(path: Path, matrix: tuple[int, ...]) -> None:
    """Write a rotation into the video track's ``tkhd`` box, as a phone's camera app does."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    version = data[at + 4]
    # size+type precede `at`; then version/flags, times, track id, reserved, duration,
    # reserved (8), layer, group, volume, reserved: the 3x3 matrix follows
    offset = at + 8 + (32 if version == 1 else 20) + 8 + 8
    assert data[offset : offset + 36] == struct.pack(
        ">9i", 1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30
    )
    data[offset : offset + 36] = struct.pack(">9i", *matrix)
    path.write_bytes(bytes(data))


def _ffmpeg_frames(path: Path, w: int, h: int) -> np.ndarray:
    """Frames as the ffmpeg program shows them (it applies the display matrix itself)."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-"]  # fmt: skip
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def test_a_rotated_phone_video_is_decoded_upright(tmp_path, face, speech):
    from avprep.face.backends import DlibFaceDetector

    upright = animate_face(face, 5, (240, 320), amplitude=0.0)  # portrait: 240 wide, 320 high
    sideways = np.ascontiguousarray(np.rot90(upright, 1, axes=(1, 2)))  # as the sensor saw it
    path = write_talking_clip(tmp_path / "phone.mp4", None, speech.audio[:3200], frames=sideways)
    # display matrix: turn 90 degrees clockwise to show (a=0 b=1 c=-1 d=0 in 16.16)
    _set_display_matrix(path, (0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30))
    media = decode_clip(str(path), config=DecodeConfig(max_side=640))
    assert media.frames.shape[1:] == (320, 240, 3) and media.source_size == (240, 320)
    assert media.rotation == 270  # counterclockwise degrees applied = 90 clockwise
    reference = _ffmpeg_frames(path, 240, 320)
    assert np.abs(media.frames[0].astype(int) - reference[0]).mean() < 3.0
    detector = DlibFaceDetector()
    gray = lambda img: cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)  # noqa: E731
    assert detector.detect(gray(sideways[0])) == []  # as stored: no face for dlib
    assert len(detector.detect(gray(media.frames[0]))) == 1  # as decoded: the face


def _two_audio_streams(path: Path, first: np.ndarray, second: np.ndarray) -> None:
    """25 video frames and two AAC streams; the second is flagged default."""
    c = av.open(str(path), "w")
    v = c.add_stream("libx264", rate=25)
    v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
    streams = []
    for disposition in (0, av.stream.Disposition.default):
        a = c.add_stream("aac", rate=16000)
        a.layout, a.disposition = "mono", disposition
        streams.append(a)
    for i in range(25):
        f = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        f.pts, f.time_base = i, Fraction(1, 25)
        for p in v.encode(f):
            c.mux(p)
    for p in v.encode():
        c.mux(p)
    for stream, audio in zip(streams, (first, second), strict=True):
        _encode_audio(c, stream, audio, 16000, 0.0)
    c.close()


def test_the_default_audio_stream_is_used_and_recorded(tmp_path, speech):
    path = tmp_path / "two_tracks.mp4"
    _two_audio_streams(path, np.zeros(16000, np.float32), speech.audio[:16000])
    media = decode_clip(str(path))
    assert media.audio_stream == {
        "file": "source", "index": 2, "audio_streams": 2, "codec": "aac", "channels": 1,
        "sample_rate": 16000, "language": "und",
    }  # fmt: skip
    assert np.sqrt(np.mean(media.audio**2)) > 0.01  # the speech, not the silent first track


def test_audio_shorter_than_the_video_marks_padded_windows_invalid(tmp_path, face, speech):
    path = write_talking_clip(
        tmp_path / "short_audio.mp4", face, speech.audio[:16000], n_frames=50, size=(96, 96)
    )  # 2 s of video, 1 s of audio
    config = BuildConfig(
        dataset="folder", root=str(tmp_path), out=str(tmp_path / "out"),
        features=("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"),
    )  # fmt: skip
    processor = ClipProcessor(config)
    processor.setup()
    row, fields = processor.process(ClipRef("k", "folder", "train", str(path)))
    assert row["status"] == "ok", row
    sample = ShardSample.from_fields("k", fields)
    start, end = sample.meta["audio_extent"]
    assert start == 0 and 16000 <= end <= 16000 + 1100  # AAC may keep a little priming
    audio, _ = sf.read(io.BytesIO(fields["flac"]), dtype="float32")
    assert len(audio) == 50 * 640 and not audio[end:].any()  # the rest is padding
    for name in ("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"):
        valid = sample.windows(name).valid  # also checks the stored mask agrees
        assert valid.shape == (50,) and valid[:20].any()
        assert not valid[25:].any(), name  # frames from 1 s on have no real audio left
        # exactly the validity of a clip whose audio really ends at `end`
        entry = sample.meta["audio_features"][name]
        config = get_feature_config(name)
        timing = track_timing(config)
        usable = timing.usable_steps(end, entry["shape"][0])
        expected, _, _ = window_validity(50, 25.0, config.window, timing, usable)
        assert np.array_equal(valid, expected), name
