"""Alignment templates: where the eye centres and the mouth centre go in each crop.

Points are (x, y) in pixels of the crop (OpenCV convention: integer coordinates are pixel
centres), in the order (image-left eye centre, image-right eye centre, mouth centre). In the
68-point iBUG order these are the means of points 36-41 and 42-47 and the midpoint of the
mouth corners 48 and 54.

- :data:`DAVS_TEMPLATE` (``davs256``; DAVS, and DVAE, which says only "aligned"): the official
  DAVS alignment (``preprocess/process256_224.py``, ``ImageLoader256`` in
  Hangz-nju-cuhk/Talking-Face-Generation-DAVS) fits a similarity that maps the eye centres
  to (70, 112), (110, 112) and the mouth centre to (90, 150), all times 2, in a 356x436
  canvas (``warpAffine`` with ``borderValue=127``), cuts ``[104:372, 44:312]`` (268x268) and
  resizes it to 260x260 (``cv2.resize``, bilinear); training reads random 256x256 crops of
  that (offsets 0..4 in x and y, 2 at test time) with random horizontal flips
  (``Dataloader/Data_load_sequence.py``). In the centred 256 crop (offset 2) the points land
  at (91.12, 114.40), (168.73, 114.40), (129.93, 188.13); eye distance 77.6 px.
  avprep computes the same geometry with one warp (canvas, cut and resize composed into one
  affine: one interpolation instead of two) and stores the 260 crop (``margin = 2`` around
  the nominal 256 crop, see :mod:`avprep.face.stage`).
- :data:`CRAN_TEMPLATE` (``cran112``; CRAN, Speech2Vid-sized crops): the ArcFace/insightface
  112x112 five-point template (``arcface_dst`` in insightface's ``face_align.py``), the two
  mouth corners (41.5493, 92.3655) and (70.7299, 92.2041) averaged into one mouth centre.
- The mouth crop is a square in the 256 crop's frame, centred on :data:`DAVS_TEMPLATE`'s
  mouth point, 1.5 template eye distances wide (116.4 px: lips, philtrum and chin top),
  resampled to the configured mouth size (:meth:`FaceTemplate.mouth_box`).

Trainers derive mouth regions from these by name:
``from avprep.face import DAVS_TEMPLATE; DAVS_TEMPLATE.mouth``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The official DAVS canvas geometry (process256_224.py): points x2 in a 356x436 canvas, the
# 268x268 square at x 44..312, y 104..372 resized to 260, the 256 crop centred in it.
DAVS_CANVAS_POINTS = ((140.0, 224.0), (220.0, 224.0), (180.0, 300.0))
DAVS_CANVAS_SIZE = (356, 436)  # (width, height)
DAVS_CANVAS_CUT = (44, 104, 268)  # (left, top, side)
DAVS_STORED_SIZE = 260
DAVS_MARGIN = (DAVS_STORED_SIZE - 256) // 2
DAVS_BORDER_VALUE = 127


def _canvas_to_256(p: tuple[float, float]) -> tuple[float, float]:
    """A canvas point -> the centred 256 crop: cut, cv2.resize's pixel-centre mapping
    ``u = (x + 0.5) * 260/268 - 0.5``, minus the 2 px margin."""
    left, top, side = DAVS_CANVAS_CUT
    k = DAVS_STORED_SIZE / side
    return (
        (p[0] - left + 0.5) * k - 0.5 - DAVS_MARGIN,
        (p[1] - top + 0.5) * k - 0.5 - DAVS_MARGIN,
    )


@dataclass(frozen=True)
class FaceTemplate:
    """Where the anchors go in a ``size`` x ``size`` crop (see the module docstring).

    ``anchor_weights``: how many times each anchor counts in the similarity fit (the official
    DAVS code lists each eye twice); ``fit``: ``"umeyama"`` (least squares) or ``"davs"``
    (the official ``transformation_from_points``: scale = ratio of the point sets' standard
    deviations, rotation by orthogonal Procrustes). ``border_value``: the grey level where the
    crop leaves the source frame. ``margin``: extra pixels stored on each side (the crop is
    stored at ``size + 2 * margin``; coordinates stay those of the centred ``size`` crop).
    """

    name: str
    size: int
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]
    mouth: tuple[float, float]
    anchor_weights: tuple[int, int, int] = (1, 1, 1)
    fit: str = "umeyama"
    border_value: int = 0
    margin: int = 0
    source: str = ""

    @property
    def points(self) -> np.ndarray:
        """(3, 2) float64: image-left eye, image-right eye, mouth centre."""
        return np.array([self.left_eye, self.right_eye, self.mouth], dtype=np.float64)

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(np.subtract(self.right_eye, self.left_eye)))

    def scaled(self, size: int) -> np.ndarray:
        """The points in a ``size`` x ``size`` crop (same framing, pixel-centre scaling)."""
        k = size / self.size
        return (self.points + 0.5) * k - 0.5

    def mouth_box(self, size: int | None = None) -> tuple[float, float, float]:
        """(centre x, centre y, side) of the mouth square in a ``size`` crop of this template."""
        size = self.size if size is None else size
        cx, cy = self.scaled(size)[2]
        return float(cx), float(cy), 1.5 * self.eye_distance * size / self.size

    def as_dict(self) -> dict[str, Any]:
        """JSON form recorded in every sample's ``face.templates``."""
        return {
            "name": self.name,
            "size": self.size,
            "left_eye": [round(v, 4) for v in self.left_eye],
            "right_eye": [round(v, 4) for v in self.right_eye],
            "mouth": [round(v, 4) for v in self.mouth],
            "anchor_weights": list(self.anchor_weights),
            "fit": self.fit,
            "border_value": self.border_value,
            "margin": self.margin,
            "source": self.source,
        }


_e1, _e2, _m = (_canvas_to_256(p) for p in DAVS_CANVAS_POINTS)
DAVS_TEMPLATE = FaceTemplate(
    name="davs256",
    size=256,
    left_eye=_e1,
    right_eye=_e2,
    mouth=_m,
    anchor_weights=(2, 2, 1),
    fit="davs",
    border_value=DAVS_BORDER_VALUE,
    margin=DAVS_MARGIN,
    source=(
        "official DAVS process256_224.py: eyes (70,112),(110,112), mouth (90,150) x2 in a "
        "356x436 canvas (grey 127), cut [104:372, 44:312], resized to 260; the 256 crop is "
        "its centre (offset 2)"
    ),
)
CRAN_TEMPLATE = FaceTemplate(
    name="cran112",
    size=112,
    left_eye=(38.2946, 51.6963),
    right_eye=(73.5318, 51.5014),
    mouth=(56.1396, 92.2848),
    source="insightface arcface_dst (112x112), mouth corners averaged",
)
TEMPLATES: dict[str, FaceTemplate] = {t.name: t for t in (DAVS_TEMPLATE, CRAN_TEMPLATE)}


def template_points(name: str, size: int) -> np.ndarray:
    """The named template's points in a ``size`` x ``size`` crop."""
    return TEMPLATES[name].scaled(size)
