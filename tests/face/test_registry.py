"""One registry of face backends (issue 20, item 6): the CLI's choices, the configs' checks
and the face stage's construction all come from ``FACE_BACKENDS``."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from avprep.cli import main
from avprep.config import BuildConfig
from avprep.face import FaceConfig, FaceStage
from avprep.face.backends import DlibLandmarker
from avprep.face.known_motion import make_work, still_astronaut
from avprep.face.registry import (
    DEFAULT_FACE_BACKEND,
    FACE_BACKENDS,
    NO_FACE,
    FaceBackend,
    LandmarkerOptions,
    get_face_backend,
)


def _choices(command, name: str = "face_backend") -> list[str]:
    (param,) = [p for p in command.params if p.name == name]
    return list(param.type.choices)


def test_cli_choices_are_the_registry():
    assert set(FACE_BACKENDS) >= {"dlib", "fan"} and DEFAULT_FACE_BACKEND in FACE_BACKENDS
    assert _choices(main.commands["build"]) == [NO_FACE, *FACE_BACKENDS]
    assert _choices(main.commands["eval"].commands["lmd"]) == list(FACE_BACKENDS)
    assert _choices(main.commands["generate"]) == list(FACE_BACKENDS)


def test_each_backend_makes_the_landmarker_it_is_named_for():
    for name, backend in FACE_BACKENDS.items():
        assert backend.name == name
        assert backend.make(LandmarkerOptions()).name == name  # constructing loads nothing


def test_unknown_backend_is_refused_listing_the_registry(tmp_path):
    known = ", ".join(FACE_BACKENDS)
    with pytest.raises(ValueError, match=f"unknown face backend 'bogus'; known: {known}$"):
        get_face_backend("bogus")
    with pytest.raises(ValueError, match=f"known: {known}"):
        FaceConfig(backend="bogus").validate()
    with pytest.raises(ValueError, match=f"known: {known}"):
        BuildConfig(dataset="demo", root=None, out=str(tmp_path), face_backend="bogus")
    BuildConfig(dataset="demo", root=None, out=str(tmp_path), face_backend=NO_FACE)  # no stage
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["build", "demo", "--out", str(out), "--face-backend", "bogus"])
    assert r.exit_code == 2 and "Invalid value for '--face-backend'" in r.output, r.output
    for name in FACE_BACKENDS:
        assert name in r.output
    assert not out.exists()


class _ShiftedDlib(DlibLandmarker):
    """A refining test backend: dlib's landmarks moved ``shift`` px right, counting calls."""

    name = "shifted"
    calls = 0
    shift = 0.0

    def landmarks(self, frames, boxes, frame_index):
        type(self).calls += 1
        return super().landmarks(frames, boxes, frame_index) + np.float32([self.shift, 0.0])

    def versions(self):
        return {"shifted": str(self.shift)}


def test_the_stage_is_built_from_the_registry(monkeypatch):
    checked: list[LandmarkerOptions] = []
    backend = FaceBackend(
        name="shifted",
        summary="test",
        refines_tracked=True,
        make=lambda o: _ShiftedDlib(o.dlib_model),
        check_files=checked.append,
    )
    monkeypatch.setitem(FACE_BACKENDS, "shifted", backend)
    config = FaceConfig(backend="shifted", detect_every=1, smooth_window=1)
    FaceStage(config).preflight()
    assert checked == [config.landmarker_options()]
    frames, _ = still_astronaut(6)
    works = {}
    for shift in (0.0, 1.0):
        monkeypatch.setattr(_ShiftedDlib, "shift", shift)
        works[shift] = make_work(frames)
        FaceStage(config).process(works[shift])
    assert _ShiftedDlib.calls == 2  # one batched call over each clip's tracked frames
    meta = works[1.0].meta["face"]
    assert meta["face_backend"] == "shifted" and meta["shifted"] == "1.0"
    d = works[1.0].arrays["landmarks_src"] - works[0.0].arrays["landmarks_src"]
    np.testing.assert_allclose(d[..., 0], 1.0, atol=1e-3)
    np.testing.assert_allclose(d[..., 1], 0.0, atol=1e-3)

