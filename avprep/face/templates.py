"""Alignment templates: where the eye centres and the mouth centre go in each crop.

Points are (x, y) in pixels of the crop, in the order (image-left eye centre, image-right eye
centre, mouth centre). In the 68-point iBUG order these are the means of points 36-41 and
42-47 and the midpoint of the mouth corners 48 and 54: the corners, not the lips, so the
alignment does not bob when the mouth opens.

- ``TEMPLATE_112`` (CRAN, Speech2Vid-sized crops): the widely used ArcFace/insightface 112x112
  five-point template (``arcface_dst`` in insightface's ``face_align.py``), with the two
  mouth corners (41.5493, 92.3655) and (70.7299, 92.2041) averaged into one mouth centre.
- ``TEMPLATE_256`` (DAVS/DVAE, "DAVS-style"): the same face geometry, normalised to the unit
  square, shrunk by 0.65 about the centre and raised by 8 px at 256x256, so the whole head
  (hair line to chin) fits with a margin, as in LRW's 256x256 face-centred frames.
- The mouth crop is a square in the 256 template frame, centred on the mouth template point,
  ``MOUTH_SIDE_IN_256`` pixels wide (1.5 template inter-ocular distances: lips, philtrum and
  chin top), resampled to the configured mouth size.
"""

from __future__ import annotations

import numpy as np

TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.1396, 92.2848]], dtype=np.float64
)
TEMPLATE_112_SIZE = 112

TEMPLATE_256 = np.array([[101.7, 113.6], [154.0, 113.3], [128.2, 173.9]], dtype=np.float64)
TEMPLATE_256_SIZE = 256

MOUTH_SIDE_IN_256 = 1.5 * float(np.linalg.norm(TEMPLATE_256[1] - TEMPLATE_256[0]))

TEMPLATES = {"davs256": (TEMPLATE_256, TEMPLATE_256_SIZE), "cran112": (TEMPLATE_112, 112)}


def template_points(name: str, size: int) -> np.ndarray:
    """The named template scaled to a ``size`` x ``size`` crop."""
    pts, native = TEMPLATES[name]
    return pts * (size / native)


def mouth_box_in_256(size256: int = 256) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the mouth square in a ``size256`` DAVS-style crop."""
    s = size256 / TEMPLATE_256_SIZE
    cx, cy = TEMPLATE_256[2] * s
    return float(cx), float(cy), MOUTH_SIDE_IN_256 * s
