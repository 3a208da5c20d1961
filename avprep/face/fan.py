"""FAN 2D landmarks (face-alignment's 2DFAN-4, Bulat & Tzimiropoulos 2017) for avprep's boxes.

The paper-grade backend: DVAE aligned its faces with FAN. Its weights are never downloaded
here: :func:`avprep.face.model_files.find_fan_weights` fails fast, naming the file missing
from ``$TORCH_HOME/hub/checkpoints`` and how to provide it. torch is imported only when this
backend is set up.

We load face-alignment's own network definition (``face_alignment/models/fan.py``) and its
weights, and apply its documented pre/post-processing ourselves, batched across frames:
centre = box centre moved up by 0.12 box heights, scale = (w + h) / 195, a 256x256 crop of
the square of side 200*scale, heatmap argmax with the quarter-pixel shift towards the
larger neighbour, minus half a pixel, mapped back through the crop. (face-alignment's
``FaceAlignment`` class would also build its S3FD detector, whose weights are another
download, and its utils module requires numba; the network file alone needs only torch.)
No ``torch.compile`` is used (the face-alignment default compiles on first use).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from avprep.face.model_files import find_fan_weights, model_file_id

CROP = 256
HEATMAP = 64
REFERENCE_SCALE = 195.0
CENTER_Y_OFFSET = 0.12


def resolve_device(requested: str) -> str:
    """ "auto" -> "cuda" when a CUDA device is usable, else "cpu"; explicit CUDA is checked."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"face backend fan: device {requested!r} requested but torch sees no CUDA "
                f"device (torch {torch.__version__}); use --face-device cpu or auto"
            )
        if ":" in requested and int(requested.split(":", 1)[1]) >= torch.cuda.device_count():
            raise RuntimeError(
                f"face backend fan: {requested!r} requested but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible"
            )
        return requested
    if requested == "cpu" or requested.startswith("mps"):
        return requested
    raise ValueError(f"unknown device {requested!r} (auto, cpu, cuda, cuda:N)")


def box_center_scale(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FAN's centre (N,2) and scale (N,) for boxes (N,4) = x0, y0, x1, y1."""
    b = np.asarray(boxes, dtype=np.float64)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    c = np.stack([b[:, 0] + w / 2, b[:, 1] + h / 2 - h * CENTER_Y_OFFSET], axis=1)
    return c, (w + h) / REFERENCE_SCALE


def crop_transform(center: np.ndarray, scale: float, resolution: float = CROP) -> np.ndarray:
    """2x3 affine: frame -> FAN crop of ``resolution`` px (face_alignment.utils.transform)."""
    h = 200.0 * scale
    k = resolution / h
    return np.array(
        [[k, 0.0, resolution * (0.5 - center[0] / h)], [0.0, k, resolution * (0.5 - center[1] / h)]]
    )


def decode_heatmaps(hm: np.ndarray) -> np.ndarray:
    """(N,68,64,64) heatmaps -> (N,68,2) heatmap-pixel coordinates, FAN's decoding rule."""
    n, c, hh, ww = hm.shape
    flat = hm.reshape(n, c, hh * ww)
    idx = flat.argmax(-1)
    py, px = np.divmod(idx, ww)
    pts = np.stack([px, py], -1).astype(np.float64)
    inner = (px > 0) & (px < ww - 1) & (py > 0) & (py < hh - 1)
    ni, ci = np.nonzero(inner)
    x, y = px[ni, ci], py[ni, ci]
    dx = hm[ni, ci, y, x + 1] - hm[ni, ci, y, x - 1]
    dy = hm[ni, ci, y + 1, x] - hm[ni, ci, y - 1, x]
    pts[ni, ci, 0] += 0.25 * np.sign(dx)
    pts[ni, ci, 1] += 0.25 * np.sign(dy)
    # face-alignment works 1-based then subtracts 0.5: a 0-based index i lands on i + 0.5
    return pts + 0.5


def _load_fan_module() -> Any:
    spec = importlib.util.find_spec("face_alignment")
    if spec is None or not spec.origin:
        raise ModuleNotFoundError(
            "face backend fan needs the face-alignment package: pip install 'avprep[fan]' "
            "(face-alignment>=1.4)"
        )
    path = Path(spec.origin).parent / "models" / "fan.py"
    mspec = importlib.util.spec_from_file_location("avprep_face_alignment_fan", path)
    assert mspec is not None and mspec.loader is not None
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod


def face_alignment_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("face-alignment")
    except PackageNotFoundError:
        return "not installed"


class FanLandmarker:
    """FAN-4 2D landmarks, batched; ``net`` may be injected (tests) instead of the weights."""

    name = "fan"

    def __init__(
        self,
        weights: str | None = None,
        device: str = "auto",
        batch_size: int = 32,
        net: Any = None,
    ) -> None:
        self.weights = weights
        self.requested_device = device
        self.batch_size = batch_size
        self._net = net
        self._device: str | None = None
        self._weights_path: str | None = None

    def setup(self) -> None:
        if self._device is not None and self._net is not None:
            return
        if self._net is None:
            path = find_fan_weights(self.weights)  # fails fast, before torch is imported
            self._weights_path = str(path)
        import torch

        self._device = resolve_device(self.requested_device)
        if self._net is None:
            mod = _load_fan_module()
            net = mod.FAN(4)
            state = torch.load(self._weights_path, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
            self._net = net
        self._net.to(self._device).eval()

    def landmarks(
        self, frames: np.ndarray, boxes: np.ndarray, frame_index: np.ndarray
    ) -> np.ndarray:
        import torch

        self.setup()
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        centers, scales = box_center_scale(boxes)
        out = np.empty((len(boxes), 68, 2), dtype=np.float32)
        for s in range(0, len(boxes), self.batch_size):
            sl = slice(s, min(s + self.batch_size, len(boxes)))
            crops = []
            for c, k, t in zip(centers[sl], scales[sl], frame_index[sl], strict=True):
                frame = frames[int(t)]
                if frame.ndim == 2:
                    frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
                crops.append(cv2.warpAffine(frame, crop_transform(c, k), (CROP, CROP)))
            x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float().div_(255.0)
            with torch.no_grad():
                hm = self._net(x.to(self._device))
            if isinstance(hm, list | tuple):
                hm = hm[-1]
            pts = decode_heatmaps(hm.float().cpu().numpy())  # heatmap pixels
            for j, (c, k) in enumerate(zip(centers[sl], scales[sl], strict=True)):
                h = 200.0 * k
                out[s + j] = (pts[j] - HEATMAP / 2) * (h / HEATMAP) + c
        return out

    def versions(self) -> dict[str, str]:
        return {
            "face_alignment": face_alignment_version(),
            "fan_weights": (
                model_file_id(self._weights_path)
                if self._weights_path
                else Path(self.weights or "").name or "injected"
            ),
            "fan_device": str(self._device or self.requested_device),
        }
