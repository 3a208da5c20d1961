"""Where the mouth is in a DAVS crop, derived from the face template (torch-free).

The official code hard-codes two mouth regions for its 256x256 crops, whose template puts
the eye centres at (91.1, 114.4), (168.7, 114.4) and the mouth centre at (129.9, 188.1):

- the L1 / temporal-loss mask ``[170:234, 64:192]`` (rows, columns; ``Gen_final_v1.py``
  and the test-time fine-tuning mask in ``Test_Gen_Models``);
- the discriminator's audio-matching window ``[19:28, 11:20]`` of its conv3 feature map
  (``Discriminator_networks.py``), a 9x9 window centred on the mouth.

Here both are expressed relative to the template's named points (mouth centre, inter-ocular
distance) and evaluated whenever a network or loss is built, so they follow
:mod:`avprep.face.templates` when the template changes; at the official template they give
the official pixels exactly (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The official mask edges relative to the official mouth centre, in official inter-ocular
# distances (77.6 px): top 188.1 - 170 = 18.1, bottom 234 - 188.1 = 45.9, left
# 129.9 - 64 = 65.9, right 192 - 129.9 = 62.1.
_OFFICIAL_IOD = 168.7 - 91.1
MOUTH_BOX_EXTENTS = {
    "top": 18.1 / _OFFICIAL_IOD,
    "bottom": 45.9 / _OFFICIAL_IOD,
    "left": 65.9 / _OFFICIAL_IOD,
    "right": 62.1 / _OFFICIAL_IOD,
}

# Discriminator: three stride-2 4x4 convs then a stride-1 4x4 conv (padding 1 each) put
# conv3 cell (i, j) at image pixel (8 j + 7.5, 8 i + 7.5); official window: 9 cells.
_D_STRIDE = 8.0
_D_OFFSET = 7.5
_D_WINDOW_AT_256 = 9


@dataclass(frozen=True)
class Box:
    top: int
    bottom: int  # exclusive
    left: int
    right: int  # exclusive


@dataclass(frozen=True)
class Window:
    top: int
    left: int
    size: int


def template_landmarks(image_size: int = 256) -> dict[str, np.ndarray]:
    """The DAVS template's named points (x, y) in an ``image_size`` crop, read now."""
    from avprep.face.templates import template_points

    pts = np.asarray(template_points("davs256", image_size), dtype=np.float64)
    return {"left_eye": pts[0], "right_eye": pts[1], "mouth": pts[2]}


def mouth_box(image_size: int = 256) -> Box:
    """The mouth region of the L1 and temporal losses (official ``[170:234, 64:192]``)."""
    pts = template_landmarks(image_size)
    iod = float(np.linalg.norm(pts["right_eye"] - pts["left_eye"]))
    mx, my = pts["mouth"]
    e = MOUTH_BOX_EXTENTS

    def clip(v: float) -> int:
        return int(min(max(round(v), 0), image_size))

    return Box(
        top=clip(my - e["top"] * iod),
        bottom=clip(my + e["bottom"] * iod),
        left=clip(mx - e["left"] * iod),
        right=clip(mx + e["right"] * iod),
    )


def discriminator_mouth_window(image_size: int = 256) -> Window:
    """The discriminator's audio-matching window on its conv3 map (official 9x9 at
    ``[19:28, 11:20]``), centred on the template mouth and inside the map."""
    n = image_size // 8 - 1  # conv3 map side
    size = max(3, min(n, round(_D_WINDOW_AT_256 * image_size / 256)))
    mx, my = template_landmarks(image_size)["mouth"]

    def start(v: float) -> int:
        centre = round((v - _D_OFFSET) / _D_STRIDE)
        return int(min(max(centre - size // 2, 0), n - size))

    return Window(top=start(my), left=start(mx), size=size)
