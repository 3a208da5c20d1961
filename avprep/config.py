"""The configuration of one ``avprep build``: a dataclass, serialisable to build.json.

Everything that changes the *content* of the shards lives here, so that a
resumed build can check it is continuing the same build (``fingerprint``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from avprep.face.registry import NO_FACE, get_face_backend
from avprep.media import DecodeConfig


@dataclass(frozen=True)
class BuildConfig:
    dataset: str
    root: str | None
    out: str
    shard_size: int = 64  # clips per shard
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    frame_side: int = 256  # longer side of stored full frames when no face stage runs
    jpeg_quality: int = 90
    face_backend: str = NO_FACE  # NO_FACE or a name in avprep.face.registry.FACE_BACKENDS
    face_options: dict[str, Any] = field(default_factory=dict)
    features: tuple[str, ...] = ()
    feature_configs: Any = None  # parsed JSON of --feature-config (user feature configs)
    noise_levels_db: tuple[float, ...] = ()
    noise_features: tuple[str, ...] = ()  # features that get noisy copies (empty: all)
    noise_seed: int = 0
    aligner: str = "none"  # "none" | "pocketsphinx" | "mfa"
    aligner_options: dict[str, Any] = field(default_factory=dict)
    align_batch: int = 32  # clips per aligner call for batching aligners (MFA)
    recognize: str = "auto"  # clips without a transcript: "auto" recognise phones | "off"
    recognizer: str = "words"  # "words" (LM + alignment) | "phones" (phone loop)
    limit: int | None = None
    splits: tuple[str, ...] = ()
    speakers: tuple[str, ...] = ()
    transcripts: str | None = None
    discover_options: dict[str, str] = field(default_factory=dict)  # adapter extras

    def __post_init__(self) -> None:
        if self.face_backend != NO_FACE:
            get_face_backend(self.face_backend)  # unknown: ValueError listing the registry

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BuildConfig:
        d = dict(d)
        d["decode"] = DecodeConfig(**d.get("decode", {}))
        for name in ("features", "noise_levels_db", "noise_features", "splits", "speakers"):
            d[name] = tuple(d.get(name, ()))
        return cls(**d)

    def fingerprint(self) -> str:
        """Hash of everything that shapes the output (not where it is written)."""
        d = self.to_dict()
        d.pop("out")
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]
