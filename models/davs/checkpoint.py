"""The official DAVS checkpoint layout, and loading it (or an avprep run's checkpoint).

The official ``train.py`` saves one ``torch.save`` dict::

    {"step": int, "epoch": int,
     "mfcc_encoder": sd, "lip_feature_encoder": sd, "Decoder": sd, "ID_encoder": sd,
     "ID_lip_discriminator": sd, "netD": sd, "netD_mul": sd, "model_fusion": sd,
     "discriminator_audio": sd, "optimizer_D": ..., "optimizer_G": ...}

Every module was wrapped in ``torch.nn.DataParallel`` (``mul_gpu=True``), so every key of
every state dict starts with ``module.``. The released ``101_DAVS_checkpoint.pth.tar`` is
read by ``util.load_test_checkpoint``, which takes ``step``, ``epoch`` and the four
generation modules ``ID_encoder``, ``Decoder``, ``mfcc_encoder``, ``lip_feature_encoder``
(the ones inference needs); a file may hold more, which are loaded when asked for.
The official ``copy_state_dict`` silently skips keys that do not match (on a CPU machine,
without ``DataParallel``, it loads nothing at all); here the ``module.`` prefix is stripped
and every module is loaded with ``strict=True``, so a mismatch is an error that names it.
The file was written by PyTorch 0.3 (BatchNorm without ``num_batches_tracked``), which
current PyTorch fills in when loading.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

GENERATION_MODULES = ("ID_encoder", "Decoder", "mfcc_encoder", "lip_feature_encoder")
PREFIX = "module."


class CheckpointError(ValueError):
    pass


def official_checkpoint(
    modules: Mapping[str, nn.Module], step: int = 0, epoch: int = 0, extra: Mapping | None = None
) -> dict[str, Any]:
    """The official dict for ``modules`` (keys prefixed ``module.``), e.g. to hand a model
    back to the official test code."""
    out: dict[str, Any] = {"step": step, "epoch": epoch}
    for name, module in modules.items():
        out[name] = OrderedDict((PREFIX + k, v) for k, v in module.state_dict().items())
    out.update(extra or {})
    return out


def _strip(state: Mapping[str, Any]) -> OrderedDict:
    out = OrderedDict()
    for k, v in state.items():
        out[k[len(PREFIX) :] if k.startswith(PREFIX) else k] = v
    return out


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load`` on the CPU, tensors only (no code runs from the file)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"DAVS checkpoint {os.fspath(path)!r} not found (the official release is "
            "101_DAVS_checkpoint.pth.tar; or a checkpoint of `avprep train davs`)"
        )
    # latin1: the official file may be a Python 2 pickle (the weights-only unpickler honours
    # the encoding although torch warns that it might not)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pickle_load_args only works")
        return torch.load(path, map_location="cpu", weights_only=True, encoding="latin1")


def module_states(checkpoint: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """name -> state dict (``module.`` stripped), from the official layout or from an avprep
    training checkpoint (``{"modules": {name: state}}``)."""
    if "modules" in checkpoint and isinstance(checkpoint["modules"], Mapping):
        source = checkpoint["modules"]
    else:
        source = {k: v for k, v in checkpoint.items() if not k.startswith("optimizer")}
    return {
        k: _strip(v)
        for k, v in source.items()
        if isinstance(v, Mapping) and v and all(isinstance(t, torch.Tensor) for t in v.values())
    }


def load_modules(
    checkpoint: Mapping[str, Any] | str | os.PathLike,
    modules: Mapping[str, nn.Module],
    required: Iterable[str] = GENERATION_MODULES,
) -> list[str]:
    """Load every module of ``modules`` the checkpoint holds, ``strict=True``; the names in
    ``required`` must be there. Returns the names loaded."""
    where = ""
    if not isinstance(checkpoint, Mapping):
        where = f" in {os.fspath(checkpoint)!r}"
        checkpoint = read_checkpoint(checkpoint)
    states = module_states(checkpoint)
    missing = [n for n in required if n in modules and n not in states]
    if missing:
        raise CheckpointError(
            f"DAVS checkpoint{where} lacks {', '.join(missing)} (has: "
            f"{', '.join(sorted(states)) or 'no module states'})"
        )
    loaded = []
    for name, module in modules.items():
        if name not in states:
            continue
        try:
            module.load_state_dict(states[name], strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"DAVS checkpoint{where}: {name} does not match: {e}") from e
        loaded.append(name)
    return loaded
