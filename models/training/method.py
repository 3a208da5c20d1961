"""The contract between the shared training core and one method's trainer.

The core (``models.training``) owns what every method shares: the step loop, devices and
precision, DDP, checkpoints and exact resume, logs, sample grids and videos, validation calls.
A method (``models/<method>/trainer.py``) owns its networks, losses and one training stage's
step. The core never looks inside a method beyond this interface, so a fourth method is one
folder plus one line in :mod:`models.methods`.

Lifecycle, driven by the core::

    trainer = TrainerCls(config, ctx)      # builds modules, optimisers, schedulers on ctx.device
    view = trainer.make_view()             # torch-free view (avprep.reader.View) for the loader
    for batch in loader:                   # batch already on ctx.device (models.data.to_device)
        scalars = trainer.train_step(batch, step)
        ...every sample_every steps: trainer.sample(batch) -> SampleOutput (grid + MP4)
        ...every val_every steps:   trainer.validate(batch) -> scalars
    checkpoint = {name: m.state_dict() for name, m in trainer.modules.items()} + optimisers
                 + schedulers + trainer.extra_state() + step, config, RNG, loader positions
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass
class TrainContext:
    """What the core tells a method about where and how it runs."""

    device: torch.device
    # Mixed precision: bf16 autocast on CUDA, disabled on CPU. Use ``with ctx.autocast():``
    # around forward passes; compute losses that need fp32 outside it (or cast up).
    amp_dtype: torch.dtype | None = None
    rank: int = 0
    world_size: int = 1
    channels_last: bool = False
    compile: bool = False
    # Wraps a module for training (DDP when world_size > 1, torch.compile when asked). The
    # method keeps the unwrapped module in ``modules`` (that is what is checkpointed) and
    # calls the wrapped one in its step.
    wrap: Callable[[nn.Module], nn.Module] = field(default=lambda m: m)
    # The ``--data`` build folders (or shard sources) and the training splits, so a stage can
    # read what it needs before the first batch (label tables, normalisation statistics from
    # the manifests); and the run folder (None in unit tests).
    data: tuple[str, ...] = ()
    splits: tuple[str, ...] | None = None
    run_dir: str | None = None

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass
class SampleOutput:
    """What a method shows every ``sample_every`` steps. Images are uint8 RGB numpy arrays.

    ``identity`` (B, H, W, 3): the input face; ``truth`` and ``generated`` (B, T, H, W, 3)
    (T may be 1); ``audio`` (B, n) float32 16 kHz mono aligned with frame 0 of ``truth``
    (None when the method has no sound to show), at ``fps`` frames per second."""

    identity: np.ndarray
    truth: np.ndarray
    generated: np.ndarray
    audio: np.ndarray | None = None
    fps: float = 25.0


class MethodTrainer(ABC):
    """One training stage of one method.

    ``config`` is the method's own config dataclass (``models/<method>/config.py``, e.g.
    ``DavsTrainConfig``; every value of the run lives in a dataclass and the core saves it in
    the run folder). It must have ``stage: str`` (the stage this trainer runs) and
    ``batch_size: int`` (the method's default batch, e.g. 16 for DAVS). Everything that is
    not method-specific (steps, workers, device, precision, compile, checkpoint/log/sample
    intervals, seed) lives in the core's own config."""

    #: name of the method in the registry (``davs``, ``cran``, ``dvae``)
    method: str = ""
    #: smallest batch a step can take; the core skips smaller ones (an epoch's last partial
    #: batch per reader), e.g. 2 where BatchNorm sees one value per channel
    min_batch_size: int = 1

    def __init__(self, config: Any, ctx: TrainContext) -> None:
        self.config = config
        self.ctx = ctx
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}

    @abstractmethod
    def make_view(self) -> Any:
        """The :class:`avprep.reader.views.View` this stage reads (torch-free)."""

    @abstractmethod
    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        """One optimisation step (all of its sub-steps, e.g. D then G) on a device batch.
        Returns the scalars to log (python floats; the core adds step, lr, samples/s)."""

    def sample(self, batch: dict[str, Any]) -> SampleOutput | None:
        """Generated output to show for a batch (no gradients), or None (nothing to show)."""
        return None

    @torch.no_grad()
    def validate(self, batch: dict[str, Any]) -> dict[str, float]:
        """Validation scalars for one batch of the validation split (averaged by the core)."""
        return {}

    def init_from(self, checkpoint: dict[str, Any]) -> None:
        """Start this stage from a previous stage's checkpoint (``--init PATH``): load the
        modules it shares with that stage. The default loads every module of the same name."""
        for name, state in checkpoint.get("modules", {}).items():
            if name in self.modules:
                self.modules[name].load_state_dict(state)

    def extra_state(self) -> dict[str, Any]:
        """Anything else to checkpoint (e.g. normalisation statistics, label tables)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Restore what :meth:`extra_state` returned."""
