import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from avprep.clips import ClipRef, ClipWork, DecodedMedia  # noqa: E402
from avprep.face import FaceConfig, FaceStage  # noqa: E402


def make_work(frames: np.ndarray) -> ClipWork:
    t = len(frames)
    media = DecodedMedia(
        frames=frames,
        timestamps=np.arange(t) / 25.0,
        audio=np.zeros(t * 640, np.float32),
        fps=25.0,
        sample_rate=16000,
        source_fps=25.0,
        source_size=(frames.shape[2], frames.shape[1]),
        av_offset=0.0,
    )
    return ClipWork(
        ref=ClipRef(key="clip", dataset="test", split="train", source="mem"), media=media
    )


@pytest.fixture(scope="session")
def stage() -> FaceStage:
    s = FaceStage(FaceConfig())
    s.setup()
    return s


@pytest.fixture
def run_stage():
    def run(frames: np.ndarray, **cfg) -> ClipWork:
        s = FaceStage(FaceConfig(**cfg))
        w = make_work(frames)
        s.process(w)
        return w

    return run
