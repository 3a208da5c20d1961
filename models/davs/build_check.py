"""What a build must hold for each DAVS stage (called by the core before any work)."""

from __future__ import annotations

from typing import Any

from avprep.face.config import FaceConfig, current_face_options

WORD_STAGES = ("joint", "word")


def _dataset_labels(dataset: str) -> tuple[str, ...] | None:
    """The labels the corpus adapter declares (None: unknown adapter)."""
    try:
        from avprep.datasets import get_adapter

        return tuple(getattr(get_adapter(dataset), "labels", ()) or ())
    except Exception:  # noqa: BLE001 - an unknown adapter only means we cannot tell
        return None


def _has(labels: tuple[str, ...], name: str) -> bool:
    return any(label == name or label.startswith(name + " ") for label in labels)


def check_build(info: dict[str, Any], stage: str | None = None) -> list[str]:
    """Problems of a build (``build.json`` content) for DAVS ``stage`` (default: joint),
    each naming the ``avprep build`` option that fixes it; empty = fine."""
    stage = stage or "joint"
    cfg = info.get("config") or {}
    problems: list[str] = []
    dataset = str(cfg.get("dataset", ""))
    if cfg.get("face_backend", "none") == "none":
        problems.append(
            "no face crops (crop256): DAVS trains on 256x256 aligned faces; rebuild with "
            "--face-backend dlib (or fan)"
        )
    face = current_face_options(cfg.get("face_options") or {})  # old builds: old names
    crop = int(face.get("crop_size_davs", FaceConfig.crop_size_davs))
    if crop != 256:
        problems.append(f"face crops are {crop}x{crop}; DAVS needs the 256x256 DAVS template crop")
    if stage in WORD_STAGES:
        features = tuple(cfg.get("features") or ())
        if "mfcc_davs" not in features:
            problems.append(
                "no mfcc_davs track (the official 12x20 HTK MFCC windows); rebuild with "
                "--features mfcc_davs (plus any others you need)"
            )
        labels = _dataset_labels(dataset)
        if labels is not None and not _has(labels, "word_id"):
            problems.append(
                f"the {dataset!r} corpus carries no word ids; the {stage} stage classifies "
                "words: build an LRW-style word-labelled corpus (`avprep build lrw`)"
            )
    if stage == "identity":
        labels = _dataset_labels(dataset)
        if labels is not None and not _has(labels, "person_id"):
            problems.append(
                f"the {dataset!r} corpus carries no person ids; the identity stage needs an "
                "identity-face build (`avprep build identity`, one folder per person)"
            )
    ok = (info.get("counts") or {}).get("ok")
    if ok == 0:
        problems.append("the build holds no usable samples (counts.ok = 0)")
    return problems
