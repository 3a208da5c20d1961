"""The registry of trainable methods: name -> view, trainer stages, config, build options.

The CLI (``avprep train``), ``models.data.make_loader`` and the benchmarks go through
:data:`METHODS`; they never list methods by hand. A fourth method is one folder under
``models/`` and one :func:`register` call below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MethodSpec:
    """How to train one method.

    ``config``: ``"module:Class"`` of the config dataclass (has a ``stage`` field);
    ``stages``: stage name -> ``"module:Class"`` of its :class:`~models.training.MethodTrainer`
    (first = default); ``views``: view name -> ``"module:Class"`` of the torch-free view;
    ``build_options``: the ``avprep build`` options that make a build this method can read;
    ``check_build``: ``"module:function"`` taking (build info dict, stage) and returning a
    list of problems, each naming the build option that fixes it (empty = fine).
    Paths are strings so importing the registry imports no networks."""

    name: str
    config: str
    stages: dict[str, str]
    views: dict[str, str] = field(default_factory=dict)
    build_options: str = ""
    check_build: str | None = None
    summary: str = ""


METHODS: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    METHODS[spec.name] = spec
    return spec


def load(path: str) -> Any:
    """``"package.module:Name"`` -> the object."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def method(name: str) -> MethodSpec:
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(sorted(METHODS))}") from None


def trainer_class(name: str, stage: str | None = None) -> Callable[..., Any]:
    spec = method(name)
    stage = stage or next(iter(spec.stages))
    if stage not in spec.stages:
        raise KeyError(f"{name} has no stage {stage!r}; stages: {', '.join(spec.stages)}")
    return load(spec.stages[stage])


# --- registrations (one line per method; each method's package holds the rest) -------------
register(
    MethodSpec(
        name="davs",
        config="models.davs.config:DavsTrainConfig",
        stages={
            "joint": "models.davs.trainer:DavsJointTrainer",
            "word": "models.davs.trainer:DavsWordTrainer",
            "identity": "models.davs.trainer:DavsIdentityTrainer",
        },
        views={
            "davs": "models.davs.view:DavsTrainView",
            "davs_identity": "models.davs.view:DavsIdentityView",
        },
        build_options="--face-backend dlib --features mfcc_davs",
        check_build="models.davs.build_check:check_build",
        summary="DAVS (Zhou et al. 2019): disentangled audio-visual talking faces",
    )
)
