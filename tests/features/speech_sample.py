"""A shard sample made from bundled speech by the build's own stage and encoder, read back
through :class:`avprep.reader.sample.ShardSample` (the path a trainer reads windows by)."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import soundfile as sf

from avprep.clip_processor import ClipProcessor
from avprep.clips import ClipRef, ClipWork, DecodedMedia
from avprep.config import BuildConfig
from avprep.features.stage import AudioFeatureStage
from avprep.reader.sample import ShardSample

SR, FPS, SPF = 16000, 25.0, 640


def speech_path(stem: str) -> str:
    return str(files("avprep") / "data" / "speech" / f"{stem}.wav")


def speech_sample(
    stem: str,
    features: tuple[str, ...],
    noise_levels_db: tuple[float, ...] = (),
    gain: float = 1.0,
) -> ShardSample:
    """The wav cut to whole 25 fps frames (as decode does), as a one-clip shard sample.
    ``gain != 1`` moves the samples off the 16-bit grid (like resampled or decoded audio)."""
    audio, sr = sf.read(speech_path(stem), dtype="float32")
    audio = (audio * np.float32(gain)).astype(np.float32)
    assert sr == SR
    n_frames = len(audio) // SPF
    media = DecodedMedia(
        frames=np.zeros((n_frames, 2, 2, 3), np.uint8),
        timestamps=np.arange(n_frames) / FPS,
        audio=np.ascontiguousarray(audio[: n_frames * SPF]),
        fps=FPS,
        sample_rate=SR,
        source_fps=FPS,
        source_size=(2, 2),
        av_offset=0.0,
    )
    ref = ClipRef(key=stem, dataset="speech", split="test", source=speech_path(stem))
    stage = AudioFeatureStage(features=features, noise_levels_db=noise_levels_db)
    processor = ClipProcessor(BuildConfig(dataset="speech", root=None, out="."), [stage])
    work = ClipWork(ref=ref, media=media)
    stage.process(work)
    return ShardSample.from_fields(stem, processor.encode(work))
