"""The face landmark backends by name: one registry, as the corpus adapters have.

The CLI's ``--face-backend`` choices, :meth:`avprep.face.config.FaceConfig.validate`, the
build configuration's check and the face stage's construction all read ``FACE_BACKENDS``,
so a backend is added here once. Detection and frame-to-frame tracking always use dlib
(:mod:`avprep.face.backends`); a backend says whether it re-estimates the landmarks of the
tracked frames (FAN, batched) or its landmarks are the tracker's own (dlib).

Nothing heavy is imported here (no dlib, OpenCV or torch): the CLI lists the choices at
start-up, and a backend's module is imported only when its landmarker is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from avprep.face.backends import LandmarkBackend

DEFAULT_FACE_BACKEND = "dlib"
NO_FACE = "none"  # a build without a face stage (full frames are stored): not a backend


@dataclass(frozen=True)
class LandmarkerOptions:
    """What any backend's landmarker is made from (each reads the fields it needs)."""

    dlib_model: str | None = None  # 68-point .dat; else $AVPREP_DLIB_LANDMARKS, package, Debian
    fan_weights: str | None = None  # 2DFAN4 .pth.tar; else $TORCH_HOME/hub/checkpoints/<name>
    device: str = "auto"
    batch_size: int = 32


@dataclass(frozen=True)
class FaceBackend:
    """One landmark backend: how to make it, and how to check its files without loading."""

    name: str
    summary: str  # one line for ``--help``
    # True: the backend re-estimates every tracked frame's landmarks after tracking (a second
    # model); False: the dlib tracker's landmarks are this backend's, nothing more runs
    refines_tracked: bool
    make: Callable[[LandmarkerOptions], LandmarkBackend]
    check_files: Callable[[LandmarkerOptions], None]  # raises ModelFileMissing


FACE_BACKENDS: dict[str, FaceBackend] = {}


def register(backend: FaceBackend) -> FaceBackend:
    FACE_BACKENDS[backend.name] = backend
    return backend


def get_face_backend(name: str) -> FaceBackend:
    """The backend called ``name``; an unknown name is a ValueError listing the known ones."""
    try:
        return FACE_BACKENDS[name]
    except KeyError:
        known = ", ".join(FACE_BACKENDS)
        raise ValueError(f"unknown face backend {name!r}; known: {known}") from None


def help_text() -> str:
    """``name (summary), ...`` for the CLI's help."""
    return ", ".join(f"{b.name} ({b.summary})" for b in FACE_BACKENDS.values())


def _make_dlib(options: LandmarkerOptions) -> LandmarkBackend:
    from avprep.face.backends import DlibLandmarker

    return DlibLandmarker(options.dlib_model)


def _check_dlib(options: LandmarkerOptions) -> None:
    from avprep.face.model_files import find_dlib_landmark_model

    find_dlib_landmark_model(options.dlib_model)


def _make_fan(options: LandmarkerOptions) -> LandmarkBackend:
    from avprep.face.fan import FanLandmarker

    return FanLandmarker(
        weights=options.fan_weights, device=options.device, batch_size=options.batch_size
    )


def _check_fan(options: LandmarkerOptions) -> None:
    from avprep.face.model_files import find_fan_weights

    find_fan_weights(options.fan_weights)


register(
    FaceBackend(
        name="dlib",
        summary="offline default",
        refines_tracked=False,
        make=_make_dlib,
        check_files=_check_dlib,
    )
)
register(
    FaceBackend(
        name="fan",
        summary="face-alignment; needs its weights in $TORCH_HOME/hub/checkpoints",
        refines_tracked=True,
        make=_make_fan,
        check_files=_check_fan,
    )
)
