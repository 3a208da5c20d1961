"""Tiny synthetic DAVS batches shaped like the view's items (no shards, no core)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.davs.config import DavsTrainConfig
from models.training.method import TrainContext

TINY = {"width": 1 / 16, "image_size": 64, "word_classes": 10}


def tiny_config(**kw) -> DavsTrainConfig:
    return DavsTrainConfig(**{**TINY, **kw})


def cpu_context(**kw) -> TrainContext:
    return TrainContext(device=torch.device("cpu"), **kw)


def smooth_images(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """n smooth uint8 RGB images (bilinear upsampled 4x4 noise): learnable, face-like scale."""
    low = torch.rand(n, 3, 4, 4, generator=g)
    img = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=True)
    return (img * 255).round().to(torch.uint8).permute(0, 2, 3, 1)


def clip_batch(b: int = 2, length: int = 24, size: int = 64, classes: int = 10, seed: int = 0):
    """A DavsTrainView batch: uint8 frames/identity, (L, 20, 12) MFCC windows, word ids.
    Each clip is one smooth face-sized image with a small per-frame change."""
    g = torch.Generator().manual_seed(seed)
    base = smooth_images(b, size, g).unsqueeze(1).int()
    wiggle = torch.randint(-8, 9, (b, length, 1, 1, 3), generator=g)
    frames = (base + wiggle).clamp(0, 255).to(torch.uint8)
    return {
        "key": [f"clip{i}" for i in range(b)],
        "frames": frames,
        "identity_frame": frames[:, 0].clone(),
        "mfcc": torch.randn(b, length, 20, 12, generator=g) * 10,
        "audio": torch.randn(b, length * 640, generator=g) * 0.1,
        "word_id": torch.arange(b) % classes,
        "person_id": torch.full((b,), -1),
        "frame_index": torch.arange(length).repeat(b, 1),
        "identity_index": torch.zeros(b, dtype=torch.int64),
    }


def identity_batch(b: int = 4, size: int = 64, persons: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return {
        "key": [f"person{i}" for i in range(b)],
        "image": smooth_images(b, size, g),
        "person_id": torch.arange(b) % persons,
        "image_index": torch.zeros(b, dtype=torch.int64),
    }


def build_demo_words(base):
    """The demo corpus's LRW-style word clips and identity photos, built as `avprep train
    davs --data demo` reads them (dlib crops, the mfcc_davs track)."""
    from avprep.config import BuildConfig
    from avprep.datasets.demo_media import make_demo_corpus
    from pipelines.build import run_build

    parts = ("words", "identities")
    root = make_demo_corpus(base / "demo_words_root", parts=parts)
    out = base / "demo_words_build"
    run_build(
        BuildConfig(
            dataset="demo", root=str(root), out=str(out), face_backend="dlib",
            features=("mfcc_davs",), shard_size=4, discover_options={"parts": ",".join(parts)},
        )
    )  # fmt: skip
    return out
