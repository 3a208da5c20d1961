"""Moving batches to the training device, decoding JPEG crops on the GPU when possible.

MP4 crop streams (the build's default) are decoded on the CPU in the DataLoader workers
(PyAV, one thread each) and arrive as uint8 tensors; DataLoader pins them when the loader
targets CUDA (``pin_memory=True``) and :func:`to_device` copies with ``non_blocking=True``.

JPEG crop streams (``avprep build --face-crop-format jpg``) can instead travel as bytes
(view config ``defer_jpeg=True``) and be decoded here in one batched call:

- CUDA device and torchvision importable: ``torchvision.io.decode_jpeg(list, device=...)``
  (nvJPEG), no CPU decode at all;
- otherwise (CPU device, or no torchvision): OpenCV decodes on the CPU (the same decoder as
  the workers use), into pinned memory when the target is CUDA, then
  ``.to(device, non_blocking=True)``.

Both give RGB uint8 ``(..., H, W, 3)`` like the eager path (stored crops with a margin are cut
to the item's ``crop_box``, mirrored where ``flip``, as the views do for eager frames).
nvJPEG and libjpeg-turbo may differ by a few grey levels (IDCT rounding); the layout and range
are identical.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch

from avprep.face.crop_codec import decode_jpeg

JPEG_SUFFIX = "_jpeg"


def torchvision_available() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def gpu_jpeg_decode_available(device: torch.device | str) -> bool:
    """True when JPEGs for ``device`` are decoded by nvJPEG (CUDA device + torchvision)."""
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.is_available() and torchvision_available()


def _flatten(data: Any) -> tuple[list[bytes], list[int]]:
    """bytes | list[bytes] | list[list[bytes]] -> flat list and the outer shape."""
    if isinstance(data, bytes | bytearray):
        return [bytes(data)], []
    if data and isinstance(data[0], bytes | bytearray):
        return [bytes(d) for d in data], [len(data)]
    flat: list[bytes] = []
    inner = None
    for row in data:
        if inner is None:
            inner = len(row)
        elif len(row) != inner:
            raise ValueError("ragged JPEG lists cannot be stacked")
        flat.extend(bytes(d) for d in row)
    return flat, [len(data), inner or 0]


def decode_jpegs(data: Any, device: torch.device | str = "cpu") -> torch.Tensor:
    """Decode JPEG bytes (one, a list, or a list of equal-length lists) to RGB uint8
    ``(*outer, H, W, 3)`` on ``device`` (nvJPEG when :func:`gpu_jpeg_decode_available`)."""
    device = torch.device(device)
    flat, outer = _flatten(data)
    if gpu_jpeg_decode_available(device):
        from torchvision.io import ImageReadMode
        from torchvision.io import decode_jpeg as tv_decode_jpeg

        encoded = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in flat]
        decoded = tv_decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
        images = torch.stack(list(decoded)).permute(0, 2, 3, 1)
    else:
        images = torch.from_numpy(np.stack([decode_jpeg(b) for b in flat]))
        if device.type == "cuda":
            images = images.pin_memory().to(device, non_blocking=True)
        elif device != images.device:
            images = images.to(device)
    return images.reshape(*outer, *images.shape[1:])


def to_device(
    batch: dict[str, Any], device: torch.device | str, non_blocking: bool = True
) -> dict[str, Any]:
    """Tensors to ``device`` (asynchronously from pinned memory); ``<name>_jpeg`` entries
    decoded into ``<name>`` on the device; other entries (keys) unchanged."""
    device = torch.device(device)
    out: dict[str, Any] = {}
    for k, v in batch.items():
        if k.endswith(JPEG_SUFFIX):
            images = decode_jpegs(v, device)
            if "crop_box" in batch:  # stored crops with a margin (crop256 is 260x260)
                images = apply_crop_boxes(images, batch["crop_box"], batch.get("flip"))
            out[k[: -len(JPEG_SUFFIX)]] = images
        elif isinstance(v, torch.Tensor):
            out[k] = v.to(device, non_blocking=non_blocking)
        else:
            out[k] = v
    return out


def apply_crop_boxes(
    images: torch.Tensor, crop_box: torch.Tensor, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """Cut decoded stored crops ``(B, ..., S, S, 3)`` to each item's ``crop_box``
    ``(x0, y0, size)``, mirrored first where ``flip``: what the view does for eagerly decoded
    frames (:func:`avprep.reader.views.crop_stored`)."""
    boxes = crop_box.tolist()
    flips = [False] * len(boxes) if flip is None else [bool(f) for f in flip.tolist()]
    if all(f is False for f in flips) and all(
        (x0, y0, size) == (0, 0, images.shape[-2]) for x0, y0, size in boxes
    ):
        return images
    out = []
    for img, (x0, y0, size), f in zip(images, boxes, flips, strict=True):
        if f:
            img = img.flip(-2)
        out.append(img[..., y0 : y0 + size, x0 : x0 + size, :])
    return torch.stack(out)
