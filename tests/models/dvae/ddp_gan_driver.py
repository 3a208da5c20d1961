"""torchrun driver for the DVAE DDP test: ``avprep train dvae ...`` with GanTrainer's step
recording, per rank and step, into ``<run>/gan-rank<r>.jsonl``: the batch's keys, the sha256
of G's and both critics' parameters after the step, the step's scalars, and for each gradient
penalty (frame, video) its local gradient w.r.t. its critic's parameters and the gradient the
critics' backward sends into it (the penalty's weight when it is part of the loss the synced
critic update comes from). Only records: the step itself runs unchanged."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

import models.dvae.trainer as dvae_trainer

_penalty = dvae_trainer.gradient_penalty
_step = dvae_trainer.GanTrainer.train_step
_record: dict = {}


def _digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for p in module.parameters():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def recording_penalty(critic, real, fake, *cond):
    gp = _penalty(critic, real, fake, *cond)
    inner = getattr(critic, "module", critic)  # the DDP-wrapped critic's own module
    name = "frame" if type(inner).__name__ == "FrameCritic" else "video"
    _record[f"wrapped_{name}"] = inner is not critic
    params = [p for p in inner.parameters() if p.requires_grad]
    grads = torch.autograd.grad(gp, params, retain_graph=True, allow_unused=True)
    _record[f"gp_param_grad_{name}"] = float(sum(g.abs().sum() for g in grads if g is not None))

    def into_penalty(grad: torch.Tensor) -> None:
        _record[f"dloss_dgp_{name}"] = float(grad)

    gp.register_hook(into_penalty)
    return gp


def recording_step(self, batch, step):
    _record.clear()
    out = _step(self, batch, step)
    row = {
        "step": step, "keys": list(batch["key"]), "scalars": out, **_record,
        "params": {n: _digest(self.modules[n])
                   for n in ("generator", "frame_critic", "video_critic")},
    }  # fmt: skip
    with open(Path(self.ctx.run_dir) / f"gan-rank{self.ctx.rank}.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    return out


dvae_trainer.gradient_penalty = recording_penalty
dvae_trainer.GanTrainer.train_step = recording_step

if __name__ == "__main__":
    from avprep.cli import main

    main(sys.argv[1:])
