"""Torch data loading for the trainers: shards -> per-method batches on the device.

``make_loader(source, view, batch_size, ...)`` -> :class:`ShardLoader` (iterate per epoch;
``state_dict`` to resume); :func:`to_device` moves a batch (decoding deferred JPEGs on the
GPU with nvJPEG when torchvision is there); :func:`images_to_float` turns uint8 HWC images into
float CHW in [-1, 1]. Views and their configs come from each method's package
(``models/<method>/view.py``, named through :mod:`models.methods`) on the base in
:mod:`avprep.reader.views`.
"""

from models.data.collate import collate_items, images_to_float
from models.data.dataset import ShardDataset, distributed_rank_world, make_view
from models.data.device import decode_jpegs, gpu_jpeg_decode_available, to_device
from models.data.loader import ShardLoader, make_loader

__all__ = [
    "ShardDataset", "ShardLoader", "collate_items", "decode_jpegs", "distributed_rank_world",
    "gpu_jpeg_decode_available", "images_to_float", "make_loader", "make_view", "to_device",
]  # fmt: skip
