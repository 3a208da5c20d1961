"""Items (numpy, from ``avprep.reader`` views) -> a batch of tensors.

Arrays are stacked (images stay uint8 ``(B, ..., H, W, 3)``: 4x less to copy and pin than
float; convert on the device with :func:`images_to_float`), ints become int64 tensors,
floats float32, strings and JPEG bytes stay lists (bytes are decoded by
:func:`models.data.device.to_device`, on the GPU when it can).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def collate_items(items: list[dict[str, Any]]) -> dict[str, Any]:
    if not items:
        raise ValueError("cannot collate an empty batch")
    keys = items[0].keys()
    batch: dict[str, Any] = {}
    for k in keys:
        vals = [it[k] for it in items]
        v0 = vals[0]
        if isinstance(v0, np.ndarray):
            batch[k] = torch.from_numpy(np.stack(vals))
        elif isinstance(v0, bool | np.bool_):
            batch[k] = torch.tensor(vals, dtype=torch.bool)
        elif isinstance(v0, int | np.integer):
            batch[k] = torch.tensor(vals, dtype=torch.int64)
        elif isinstance(v0, float | np.floating):
            batch[k] = torch.tensor(vals, dtype=torch.float32)
        else:  # str keys, JPEG bytes (or lists of them)
            batch[k] = vals
    return batch


def images_to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., H, W, 3)`` -> float32 ``(..., 3, H, W)`` in [-1, 1] (the tanh range the
    generators of all three papers output). Run it after moving the batch to the device."""
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    return images.movedim(-1, -3).float().div_(127.5).sub_(1.0)
