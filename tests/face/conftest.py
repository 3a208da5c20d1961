import numpy as np
import pytest

from avprep.clips import ClipWork
from avprep.face import FaceConfig, FaceStage
from avprep.face.known_motion import make_work


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
