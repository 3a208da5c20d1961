"""Decoding to the common time base: frame resampling by timestamp, audio alignment, rejections."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np
import pytest

from avprep.clips import ClipRejected
from avprep.datasets.demo_media import write_talking_clip
from avprep.media import DecodeConfig, align_audio, decode_audio, decode_clip


def _gray_frames(n: int, size=(64, 48)) -> np.ndarray:
    """Frame k is uniformly gray at level 16 + 6k: its index survives H.264 compression."""
    w, h = size
    levels = 16 + 6 * np.arange(n)
    return np.repeat(levels.astype(np.uint8)[:, None, None, None], h * w * 3).reshape(n, h, w, 3)


def _index_of(frame: np.ndarray) -> int:
    return int(round((float(frame.mean()) - 16) / 6))


def _write_vfr(path, times_ms: list[int], audio: np.ndarray | None = None) -> None:
    """An mp4 whose frames sit at the given times (ms): variable frame rate."""
    frames = _gray_frames(len(times_ms))
    c = av.open(str(path), "w")
    s = c.add_stream("libx264", rate=25)
    s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
    s.codec_context.time_base = Fraction(1, 1000)
    for t, img in zip(times_ms, frames, strict=True):
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        f.pts, f.time_base = t, Fraction(1, 1000)
        for p in s.encode(f):
            c.mux(p)
    for p in s.encode():
        c.mux(p)
    c.close()


def test_demo_clip_decodes_to_25fps_and_640_samples_per_frame(demo_corpus):
    m = decode_clip(str(demo_corpus / "speaker1" / "clip00.mp4"))
    assert m.fps == 25 and m.sample_rate == 16000
    assert m.frames.dtype == np.uint8 and m.frames.shape[1:] == (256, 256, 3)
    assert m.audio.dtype == np.float32 and len(m.audio) == m.n_frames * 640
    assert np.allclose(m.timestamps, np.arange(m.n_frames) / 25)
    assert np.abs(m.audio).max() > 0.05  # real speech, not silence


@pytest.mark.parametrize("fps", [30, Fraction(30000, 1001), 25, 50])
def test_frame_rate_resampling_is_by_timestamp(tmp_path, speech, fps):
    n_src = 36
    src = _gray_frames(n_src)
    path = tmp_path / "v.mp4"
    write_talking_clip(path, None, speech.audio[:16000 * 2], 16000, fps=fps, frames=src)
    m = decode_clip(str(path), config=DecodeConfig(max_side=0))
    duration = n_src / float(fps)
    assert m.n_frames == int(np.floor(duration * 25 + 1e-6))
    for j in range(m.n_frames):
        # sample and hold: the latest source frame at or before j/25 s
        expected = int(np.floor(j / 25 * float(fps) + 1e-6))
        assert _index_of(m.frames[j]) == expected, (j, expected)
    assert m.source_fps == pytest.approx(float(fps), rel=1e-3)


def test_variable_frame_rate_source(tmp_path, speech):
    times = [0, 30, 50, 130, 140, 150, 230, 300, 310, 400]  # ms, irregular
    path = tmp_path / "vfr.mp4"
    _write_vfr(path, times)
    # give it audio by remuxing: decode video-only file must be rejected as no_audio
    with pytest.raises(ClipRejected) as e:
        decode_clip(str(path))
    assert e.value.reason == "no_audio"
    wav = tmp_path / "a.wav"
    import soundfile as sf

    sf.write(wav, speech.audio[:8000], 16000)
    m = decode_clip(str(path), audio_source=str(wav), config=DecodeConfig(max_side=0))
    for j in range(m.n_frames):
        t = j * 40
        expected = max(i for i, ti in enumerate(times) if ti <= t)
        assert _index_of(m.frames[j]) == expected
    assert len(m.audio) == m.n_frames * 640


def test_audio_start_offset_is_applied(tmp_path, speech, face):
    path = tmp_path / "late_audio.mp4"
    write_talking_clip(path, face, speech.audio, 16000, audio_delay=0.3, size=(64, 64))
    m = decode_clip(str(path))
    ref = np.concatenate([np.zeros(int(0.3 * 16000), np.float32), speech.audio])
    seg = ref[8000:24000]
    corr = np.correlate(m.audio[: 16000 * 2], seg, "valid")
    assert abs(int(np.argmax(corr)) - 8000) <= 2  # within 2 samples of where it belongs
    assert m.av_offset > 0.2


def test_align_audio_pads_cuts_and_shifts():
    a = np.arange(1, 1001, dtype=np.float32)
    out = align_audio(a, 0.01, 2, 25, 16000)  # starts 160 samples late
    assert len(out) == 1280 and np.all(out[:160] == 0) and out[160] == 1
    out = align_audio(a, -0.01, 2, 25, 16000)  # starts 160 samples early
    assert out[0] == 161 and np.all(out[840:] == 0)


def test_one_frame_video(tmp_path, speech):
    path = tmp_path / "one.mp4"
    write_talking_clip(path, None, speech.audio[:640], 16000, frames=_gray_frames(1))
    m = decode_clip(str(path))
    assert m.n_frames == 1 and len(m.audio) == 640
    with pytest.raises(ClipRejected, match="too_short"):
        decode_clip(str(path), config=DecodeConfig(min_frames=5))


def test_too_long_is_rejected_before_decoding(tmp_path, speech):
    path = tmp_path / "long.mp4"
    write_talking_clip(path, None, speech.audio, 16000, frames=_gray_frames(40))
    with pytest.raises(ClipRejected) as e:
        decode_clip(str(path), config=DecodeConfig(max_seconds=1.0))
    assert e.value.reason == "too_long" and "--max-seconds" in e.value.detail


@pytest.mark.parametrize(
    "content,reason",
    [(b"", "empty_file"), (b"this is not a video at all" * 50, "not_media")],
)
def test_bad_files(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(ClipRejected) as e:
        decode_clip(str(path))
    assert e.value.reason == reason


def test_truncated_mp4(tmp_path, demo_corpus):
    data = (demo_corpus / "speaker1" / "clip00.mp4").read_bytes()
    path = tmp_path / "trunc.mp4"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ClipRejected) as e:
        decode_clip(str(path))
    assert e.value.reason in ("not_media", "corrupt_media")


def test_audio_only_file(tmp_path, speech):
    path = tmp_path / "speech.mp4"
    write_talking_clip(path, None, speech.audio, 16000)
    with pytest.raises(ClipRejected, match="no_video"):
        decode_clip(str(path))


def test_missing_file(tmp_path):
    with pytest.raises(ClipRejected, match="missing_file"):
        decode_clip(str(tmp_path / "nope.mp4"))


def test_permission_denied_is_unreadable(tmp_path, demo_corpus, monkeypatch):
    path = tmp_path / "locked.mp4"
    path.write_bytes((demo_corpus / "speaker1" / "clip00.mp4").read_bytes())
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads anything: make open() fail the way it fails for a user
        import builtins

        real_open = builtins.open

        def deny(file, *a, **k):
            if str(file) == str(path):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *a, **k)

        monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(ClipRejected) as e:
        decode_clip(str(path))
    assert e.value.reason == "unreadable"


def test_downscale_keeps_aspect_and_bounds_memory(tmp_path, speech, face):
    path = tmp_path / "wide.mp4"
    write_talking_clip(path, face, speech.audio[:8000], 16000, size=(640, 360))
    m = decode_clip(str(path), config=DecodeConfig(max_side=320))
    assert m.frames.shape[1:3] == (180, 320)
    assert m.source_size == (640, 360)


def test_decode_audio_reads_audio_files_and_soundtracks(tmp_path, speech, face):
    """The public audio decoder: a 16-bit wav comes back sample for sample; a video's
    soundtrack (AAC) comes back with its stream record; bad input is rejected by reason."""
    import soundfile as sf

    wav = tmp_path / "s.wav"
    sf.write(str(wav), speech.audio[:16000], 16000, subtype="PCM_16")
    samples, start, record = decode_audio(str(wav))
    ref, _ = sf.read(str(wav), dtype="float32")
    assert samples.dtype == np.float32 and start == 0.0 and record["codec"] == "pcm_s16le"
    np.testing.assert_allclose(samples, ref, atol=1e-6)
    with pytest.raises(ClipRejected) as e:
        decode_audio(str(wav), max_seconds=0.5)
    assert e.value.reason == "too_long"
    clip = tmp_path / "c.mp4"
    write_talking_clip(clip, face, speech.audio[:16000], 16000, size=(64, 64))
    samples, _, record = decode_audio(str(clip), DecodeConfig(sample_rate=8000))
    assert record["codec"] == "aac" and abs(len(samples) - 8000) <= 1024
    mute = tmp_path / "mute.mp4"
    write_talking_clip(mute, face, None, size=(64, 64), n_frames=5)
    with pytest.raises(ClipRejected, match="no_audio"):
        decode_audio(str(mute))
    with pytest.raises(ClipRejected, match="missing_file"):
        decode_audio(str(tmp_path / "nope.wav"))


def test_video_without_audio_only_when_asked(tmp_path, face):
    mute = tmp_path / "mute.mp4"
    write_talking_clip(mute, face, None, size=(64, 64), n_frames=5)
    with pytest.raises(ClipRejected, match="no_audio"):
        decode_clip(str(mute))
    m = decode_clip(str(mute), require_audio=False)
    assert m.n_frames == 5 and len(m.audio) == 5 * 640 and not m.audio.any()
    assert m.audio_extent == (0, 0) and m.audio_stream is None
