"""Face track: detect, landmark (68 iBUG points), align to templates, crop, estimate pose.

The dlib 68-point landmark model used by the default backend is licensed for
non-commercial use only. See :mod:`avprep.face.model_files`.
"""

from avprep.face.config import FaceConfig
from avprep.face.stage import FaceStage
from avprep.face.templates import CRAN_TEMPLATE, DAVS_TEMPLATE, FaceTemplate

__all__ = ["CRAN_TEMPLATE", "DAVS_TEMPLATE", "FaceConfig", "FaceStage", "FaceTemplate"]
