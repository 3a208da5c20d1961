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


def view_class(name: str) -> type:
    """A view name (``davs``, ``cran``, ``dvae_segments``...) -> its class, from the views the
    methods register (each method's views live in its package, ``models/<method>/view.py``)."""
    for spec in METHODS.values():
        if name in spec.views:
            return load(spec.views[name])
    raise KeyError(f"unknown view {name!r}; known: {', '.join(view_names())}")


def view_names() -> list[str]:
    return sorted({v for spec in METHODS.values() for v in spec.views})


def check_build(name: str, info: dict[str, Any], stage: str | None = None) -> list[str]:
    """Problems of one build (its ``build.json`` dict) for a method's stage (empty = fine);
    each names the ``avprep build`` option that fixes it."""
    spec = method(name)
    if spec.check_build is None:
        return []
    return list(load(spec.check_build)(info, stage or next(iter(spec.stages))))


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
register(
    MethodSpec(
        name="dvae",
        config="models.dvae.config:DvaeTrainConfig",
        stages={
            "vae": "models.dvae.trainer:VaeTrainer",
            "landmarks": "models.dvae.trainer:LandmarkTrainer",
            "gan": "models.dvae.trainer:GanTrainer",
        },
        views={
            "dvae_segments": "models.dvae.view:DvaeSegments",
            "dvae_faces": "models.dvae.view:DvaeFaces",
        },
        build_options="--features logspec_dvae --aligner pocketsphinx --face-backend dlib",
        check_build="models.dvae.config:check_build",
        summary="DVAE (Mittal & Wang 2020): disentangled audio VAE, then a talking-head GAN",
    )
)
register(
    MethodSpec(
        name="cran",
        config="models.cran.config:CranTrainConfig",
        stages={
            "cae": "models.cran.trainer:CranCaeTrainer",
            "cae_gan": "models.cran.trainer:CranCaeGanTrainer",
            "rae": "models.cran.trainer:CranRaeTrainer",
        },
        views={"cran": "models.cran.view:CranView"},
        build_options="--face-backend dlib --features mfcc_cran",
        check_build="models.cran.build:check_build",
        summary="CRAN (Song et al. 2019): CAE -> +perceptual/adversarial -> recurrent RAE",
    )
)
