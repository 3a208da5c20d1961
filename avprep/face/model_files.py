"""Where the face models live on disk, and clear errors when they do not.

Licence note (copy into the README): the dlib 68-point shape predictor model
(``shape_predictor_68_face_landmarks.dat``) was trained on the iBUG 300-W dataset, whose
licence excludes commercial use, so that model file is for non-commercial use only.

The dlib model is looked up, in order: an explicit path, ``$AVPREP_DLIB_LANDMARKS``, the
``face_recognition_models`` package (located without importing it: its ``__init__`` needs
``pkg_resources``, which recent setuptools no longer ship), Debian's ``libdlib-data``
(``/usr/share/dlib/``). FAN's weights are never downloaded: they must already be in
``$TORCH_HOME/hub/checkpoints`` (or be given as an explicit path).
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path

DLIB_MODEL_NAME = "shape_predictor_68_face_landmarks.dat"
DLIB_ENV = "AVPREP_DLIB_LANDMARKS"
DEBIAN_DLIB_DIR = Path("/usr/share/dlib")

# face-alignment 1.4-1.5 load 2D FAN-4 from this URL into torch.hub's checkpoint folder;
# the installed package's own table wins when it can be read (see fan_weights_url).
FAN_2D_URL = "https://www.adrianbulat.com/downloads/python-fan/2DFAN4-11f355bf06.pth.tar"


class ModelFileMissing(FileNotFoundError):
    """A model file a backend needs is not on this machine; the message says how to get it."""


def _package_dlib_model() -> Path | None:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "models" / DLIB_MODEL_NAME
        if p.is_file():
            return p
    return None


def dlib_landmark_model_candidates(explicit: str | None = None) -> list[Path]:
    out: list[Path] = []
    if explicit:
        out.append(Path(explicit))
    env = os.environ.get(DLIB_ENV)
    if env:
        out.append(Path(env))
    pkg = _package_dlib_model()
    if pkg is not None:
        out.append(pkg)
    out.append(DEBIAN_DLIB_DIR / DLIB_MODEL_NAME)
    return out


@cache
def model_file_id(path: str | Path) -> str:
    """How samples name a model file: its name and size, not its path. The path is the
    machine's (a venv, a home directory), and recording it made two builds of the same input
    on two machines write different sample bytes; name and size tell models apart. Read once
    per process: the face stage names its models in every sample."""
    p = Path(path)
    return f"{p.name} ({p.stat().st_size} bytes)"


def find_dlib_landmark_model(explicit: str | None = None) -> Path:
    """The 68-point dlib model file; an explicit path or the env var must exist if given."""
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ModelFileMissing(f"dlib landmark model not found at the given path {p}")
        return p
    env = os.environ.get(DLIB_ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise ModelFileMissing(f"${DLIB_ENV}={env} does not name an existing file")
        return p
    for p in dlib_landmark_model_candidates():
        if p.is_file():
            return p
    raise ModelFileMissing(
        f"dlib 68-point model {DLIB_MODEL_NAME} not found (looked in the face_recognition_models "
        f"package and {DEBIAN_DLIB_DIR}). Provide it with `pip install face_recognition_models`, "
        f"`apt-get install libdlib-data`, or set ${DLIB_ENV} to the .dat file."
    )


def torch_hub_checkpoints() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` as torch.hub resolves it, without importing torch."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        xdg = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
        torch_home = os.path.join(xdg, "torch")
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints"


def fan_weights_url() -> str:
    """The 2D FAN weights URL of the installed face-alignment (its own table), else ours."""
    spec = importlib.util.find_spec("face_alignment")
    if spec is not None and spec.origin:
        api = Path(spec.origin).parent / "api.py"
        try:
            text = api.read_text()
        except OSError:
            return FAN_2D_URL
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("'2DFAN-4'") or line.startswith('"2DFAN-4"'):
                parts = line.split("'") if "'" in line else line.split('"')
                urls = [s for s in parts if s.startswith("http")]
                if urls:
                    return urls[0]
    return FAN_2D_URL


def find_fan_weights(explicit: str | None = None) -> Path:
    """The FAN 2D weights file, or ModelFileMissing naming the file and how to provide it."""
    url = fan_weights_url()
    name = url.rsplit("/", 1)[-1]
    if explicit:
        p = Path(explicit)
        if p.is_file():
            return p
        raise ModelFileMissing(f"FAN weights not found at the given path {p}")
    p = torch_hub_checkpoints() / name
    if p.is_file():
        return p
    raise ModelFileMissing(
        f"FAN weights {name} are not in {p.parent} (TORCH_HOME/hub/checkpoints). avprep never "
        f"downloads at run time: on a machine with network, fetch {url} into that folder "
        f"(or run face_alignment.FaceAlignment once there and copy the file), set TORCH_HOME "
        f"to a folder holding hub/checkpoints/{name}, or pass its path as fan_weights. "
        f"Otherwise use --face-backend dlib."
    )
