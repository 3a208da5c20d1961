import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from face_videos import make_work  # noqa: E402

from avprep.clips import ClipWork  # noqa: E402
from avprep.face import FaceConfig, FaceStage  # noqa: E402


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
