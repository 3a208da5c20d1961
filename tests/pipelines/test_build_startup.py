"""Start-up of `avprep build`: the driver checks model files without loading models, and a
process loads each dlib model once, however many stages and runners ask for it."""

from __future__ import annotations

import pytest

from avprep.clip_processor import ClipProcessor
from avprep.config import BuildConfig
from avprep.face import backends
from avprep.face.model_files import find_dlib_landmark_model
from pipelines.build import run_build
from pipelines.build_steps import SetupError


@pytest.fixture
def counted_loads(monkeypatch):
    """Count real shape-predictor loads, starting from an empty per-process cache."""
    loads: list[str] = []
    real = backends.dlib.shape_predictor

    def shape_predictor(path):
        loads.append(path)
        return real(path)

    monkeypatch.setattr(backends, "_SHARED_MODELS", {})
    monkeypatch.setattr(backends.dlib, "shape_predictor", shape_predictor)
    return loads


def _config(root, out) -> BuildConfig:
    return BuildConfig(
        dataset="folder", root=str(root), out=str(out), face_backend="dlib", aligner="none"
    )


def test_preflight_and_versions_load_no_model(tmp_path, counted_loads):
    processor = ClipProcessor(_config(tmp_path, tmp_path / "out"))
    processor.preflight()
    versions = processor.versions()
    assert counted_loads == []
    # the file's name and size, not its path: the same bytes on every machine
    size = find_dlib_landmark_model().stat().st_size
    want = f"shape_predictor_68_face_landmarks.dat ({size} bytes)"
    assert versions["dlib_landmark_model"] == want
    processor.setup()  # the clip face stage; an identity-photo one would share the load
    assert len(counted_loads) == 1
    ClipProcessor(_config(tmp_path, tmp_path / "out2")).setup()
    assert len(counted_loads) == 1


def test_in_process_build_loads_the_model_once(tmp_path, demo_corpus, counted_loads):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "talk.mp4").write_bytes((demo_corpus / "speaker1" / "clip00.mp4").read_bytes())
    result = run_build(_config(root, tmp_path / "out"), report=False)
    assert result.info["counts"]["ok"] == 1
    assert len(counted_loads) == 1  # driver preflight + DirectRunner worker: one load


def test_missing_model_fails_in_the_driver_before_any_output(tmp_path, monkeypatch):
    monkeypatch.setenv("AVPREP_DLIB_LANDMARKS", str(tmp_path / "missing.dat"))
    monkeypatch.setattr(backends, "_SHARED_MODELS", {})
    out = tmp_path / "out"
    with pytest.raises(SetupError, match="AVPREP_DLIB_LANDMARKS"):
        run_build(_config(tmp_path, out), report=False)
    assert not out.exists()


def test_detector_per_thread_shape_predictor_per_process():
    """dlib: shape_predictor is documented thread-safe, object_detector is not."""
    import threading

    from avprep.face.model_files import find_dlib_landmark_model

    path = str(find_dlib_landmark_model())
    got: dict[str, tuple[object, object]] = {}

    def load(name: str) -> None:
        got[name] = (
            backends.shared_model("frontal_face_detector"),
            backends.shared_model("shape_predictor", path),
        )

    threads = [threading.Thread(target=load, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    load("a2")  # this thread again
    assert got["a"][0] is not got["b"][0]
    assert got["a"][1] is got["b"][1] is got["a2"][1]
    assert backends.shared_model("frontal_face_detector") is got["a2"][0]


def test_worker_setup_limits_blas_thread_pools(tmp_path):
    """A build worker's BLAS pools run one thread (OpenBLAS threads spin after each call:
    ~1.6x the CPU per clip, issue 18), whatever the environment said; torch's own threads
    (FAN on a CPU) are left alone. Checked in a new process: the limit is process-wide."""
    import json
    import os
    import subprocess
    import sys

    pytest.importorskip("torch")
    code = (
        "import json, os\n"
        "from threadpoolctl import threadpool_info\n"
        "import scipy.linalg\n"  # numpy's and scipy's OpenBLAS both loaded
        "import torch\n"
        "torch_threads = torch.get_num_threads()\n"
        "from avprep.clip_processor import ClipProcessor\n"
        "from avprep.config import BuildConfig\n"
        f"p = ClipProcessor(BuildConfig(dataset='folder', root={str(tmp_path)!r}, "
        f"out={str(tmp_path / 'out')!r}, face_backend='none', aligner='none'))\n"
        "before = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "p.setup()\n"
        "after = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "import cv2\n"
        "print(json.dumps([before, after, cv2.getNumThreads(), "
        "os.environ['OPENBLAS_NUM_THREADS'], torch.get_num_threads() == torch_threads]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env["OPENBLAS_NUM_THREADS"] = "2"  # a user's setting: the worker still runs one
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    before, after, cv2_threads, env, torch_same = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(after) >= 2 and max(before) == 2
    assert after == [1] * len(after)
    assert cv2_threads == 1 and env == "2" and torch_same  # the user's setting stays in the env
