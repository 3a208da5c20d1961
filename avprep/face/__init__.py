"""Face track: detect, landmark (68 iBUG points), align to templates, crop, estimate pose.

The dlib 68-point landmark model used by the default backend is licensed for
non-commercial use only. See :mod:`avprep.face.model_files`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from avprep.face.config import FaceConfig
    from avprep.face.stage import FaceStage
    from avprep.face.templates import CRAN_TEMPLATE, DAVS_TEMPLATE, FaceTemplate

__all__ = ["CRAN_TEMPLATE", "DAVS_TEMPLATE", "FaceConfig", "FaceStage", "FaceTemplate"]

# Loaded on first use, so the reader's ``avprep.face.crop_codec`` does not pull the face
# stage (dlib, OpenCV) into every DataLoader worker (issue 12).
_LAZY = {
    "FaceConfig": "avprep.face.config",
    "FaceStage": "avprep.face.stage",
    "CRAN_TEMPLATE": "avprep.face.templates",
    "DAVS_TEMPLATE": "avprep.face.templates",
    "FaceTemplate": "avprep.face.templates",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'avprep.face' has no attribute {name!r}")
