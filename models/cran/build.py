"""What a build must hold for CRAN, checked from its build.json before training starts.

CRAN reads the 112x112 crops (``crop112``, CRAN template), the ``mfcc_cran`` track (20 ms
windows, 10 ms hop, c0 dropped, 35 steps per frame) and each clip's longest run of frames
without an extreme pose (the face stage's ``good_run_start``/``good_run_length``, made with
the head-pose limits). Each problem names the ``avprep build`` option that fixes it.
"""

from __future__ import annotations

from typing import Any

from avprep.face.config import FaceConfig, current_face_options

BUILD_OPTIONS = "--face-backend dlib --features mfcc_cran (plus the default pose limits)"


def check_build(info: dict[str, Any], stage: str) -> list[str]:
    """Problems of a build (its build.json content) for a CRAN ``stage``; empty = fine."""
    cfg = info.get("config", info)
    problems: list[str] = []
    if cfg.get("face_backend", "none") in (None, "none"):
        problems.append(
            "no face crops or good runs: CRAN needs the 112x112 face crops (crop112) and the "
            "longest good run of each clip; rebuild with --face-backend dlib (or fan)"
        )
    else:
        face = current_face_options(cfg.get("face_options") or {})  # old builds: old names
        size = int(face.get("crop_size_cran", FaceConfig.crop_size_cran))
        if size != 112:
            problems.append(
                f"crop112 is {size}x{size} here: CRAN's networks take 112x112; rebuild with the "
                "face option crop_size_cran=112 (the default)"
            )
        for name, flag in (("max_yaw", "--face-max-yaw"), ("max_pitch", "--face-max-pitch")):
            limit = face.get(name)
            if limit is not None and float(limit) >= 90:
                problems.append(
                    f"{name}={limit}: no extreme-pose filter, so the good runs CRAN trains on "
                    f"may hold profile faces; rebuild with {flag} below 90 (default 45/30)"
                )
    features = set(cfg.get("features") or ())
    features |= {c.get("name") for c in (cfg.get("feature_configs") or []) if isinstance(c, dict)}
    if "mfcc_cran" not in features:
        problems.append(
            "no mfcc_cran track: rebuild with --features including mfcc_cran "
            "(e.g. --features mfcc_cran or the default all four)"
        )
    if stage not in ("cae", "cae_gan", "rae"):
        problems.append(f"unknown CRAN stage {stage!r}")
    return problems
