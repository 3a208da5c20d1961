"""A small but real method for testing the training core: a conv encoder-decoder that
predicts DAVS-view frames (at 32x32) from the identity frame and each frame's MFCC window.

It uses everything the core must carry across a resume: two optimisers, a scheduler,
dropout and noise (torch RNG), numpy's and python's RNGs, extra state. ``register_tiny``
adds it to the registry as method ``tiny`` (stages ``main`` and ``decoder``: the second
freezes the encoder, for ``--init``)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.data import images_to_float
from models.davs.view import DavsConfig, DavsView
from models.methods import METHODS, MethodSpec, register
from models.training import MethodTrainer, SampleOutput

SIDE = 32


@dataclass
class TinyConfig:
    stage: str = "main"
    batch_size: int = 2
    lr: float = 2e-3
    width: int = 8
    frames: int = 4
    seq_len: int = 8
    record_keys: bool = False  # write every batch's keys and a parameter checksum per rank


def check_build(info: dict, stage: str) -> list[str]:
    cfg = info.get("config", {})
    problems = []
    if "mfcc_davs" not in cfg.get("features", []):
        problems.append("no mfcc_davs track: build with --features mfcc_davs")
    if cfg.get("face_backend") == "none":
        problems.append("no face crops: build with --face-backend dlib")
    return problems


class TinyNet(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(), nn.Conv2d(width, width, 3, 2, 1)
        )
        self.audio = nn.Sequential(nn.Flatten(), nn.Linear(240, width), nn.Dropout(0.2))
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(width, width, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(width, 3, 4, 2, 1), nn.Tanh(),
        )  # fmt: skip

    def forward(self, identity: torch.Tensor, mfcc: torch.Tensor) -> torch.Tensor:
        z = self.encoder(identity) + self.audio(mfcc)[:, :, None, None]
        return self.decoder(z)


def _small(images: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (N, 3, 32, 32) in [-1, 1]."""
    x = images_to_float(images)
    x = x.reshape(-1, *x.shape[-3:])
    return F.interpolate(x, size=(SIDE, SIDE), mode="area")


class TinyTrainer(MethodTrainer):
    method = "tiny"

    def __init__(self, config: TinyConfig, ctx) -> None:
        super().__init__(config, ctx)
        self.net = TinyNet(config.width).to(ctx.device)
        self.modules = {"net": self.net}
        enc = [*self.net.encoder.parameters(), *self.net.audio.parameters()]
        if config.stage == "decoder":
            for p in enc:
                p.requires_grad_(False)
            self.optimizers = {"dec": torch.optim.Adam(self.net.decoder.parameters(), config.lr)}
        else:
            self.optimizers = {
                "enc": torch.optim.Adam(enc, config.lr),
                "dec": torch.optim.SGD(self.net.decoder.parameters(), config.lr, momentum=0.9),
            }
        self.schedulers = {"dec": torch.optim.lr_scheduler.StepLR(self.optimizers["dec"], 3, 0.5)}
        self.wrapped = ctx.wrap(self.net)
        self.batches_seen = 0
        self.out_dtype = ""
        self.memory_format = ""

    def make_view(self):
        return DavsView(DavsConfig(seq_len=self.config.seq_len))

    def _pairs(self, batch):
        f = self.config.frames
        b = batch["frames"].shape[0]
        ident = _small(batch["identity_frame"]).repeat_interleave(f, 0)
        truth = _small(batch["frames"][:, :f])
        mfcc = batch["mfcc"][:, :f].reshape(b * f, 12, 20)
        return ident, mfcc, truth

    def train_step(self, batch, step):
        ident, mfcc, truth = self._pairs(batch)
        # randomness from every RNG the core must restore on resume
        noise = 0.01 * torch.randn_like(ident) * float(np.random.rand()) * random.random()
        with self.ctx.autocast():
            out = self.wrapped(ident + noise, mfcc)
        self.out_dtype = str(out.dtype)
        cl = self.net.encoder[0].weight.is_contiguous(memory_format=torch.channels_last)
        self.memory_format = "channels_last" if cl else "contiguous"
        loss = F.l1_loss(out.float(), truth)
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
        for sch in self.schedulers.values():
            sch.step()
        self.batches_seen += 1
        if self.config.record_keys and self.ctx.run_dir:
            checksum = float(sum(p.detach().double().sum() for p in self.net.parameters()))
            path = Path(self.ctx.run_dir) / f"keys-rank{self.ctx.rank}.jsonl"
            with open(path, "a") as f:
                f.write(json.dumps({"step": step, "keys": batch["key"], "params": checksum}))
                f.write("\n")
        return {"loss": float(loss.detach()), "noise": float(noise.abs().mean())}

    def sample(self, batch):
        ident, mfcc, truth = self._pairs(batch)
        b, f = batch["frames"].shape[0], self.config.frames
        gen = self.net.eval()(ident, mfcc)
        self.net.train()

        def u8(x):
            x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            return x.permute(0, 2, 3, 1).cpu().numpy()

        t = np.arange(int(16000 * f / 25)) / 16000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        return SampleOutput(
            identity=u8(ident[::f]),
            truth=u8(truth).reshape(b, f, SIDE, SIDE, 3),
            generated=u8(gen).reshape(b, f, SIDE, SIDE, 3),
            audio=np.stack([tone] * b),
        )

    @torch.no_grad()
    def validate(self, batch):
        ident, mfcc, truth = self._pairs(batch)
        return {"l1": float(F.l1_loss(self.net.eval()(ident, mfcc), truth))}

    def extra_state(self):
        return {
            "batches_seen": self.batches_seen, "out_dtype": self.out_dtype,
            "memory_format": self.memory_format,
        }  # fmt: skip

    def load_extra_state(self, state):
        self.batches_seen = int(state["batches_seen"])


# the module's import name, spelled out: under torchrun it runs as __main__ (see the end)
MODULE = "tests.models.training.tiny_method"
SPEC = MethodSpec(
    name="tiny",
    config=f"{MODULE}:TinyConfig",
    stages={"main": f"{MODULE}:TinyTrainer", "decoder": f"{MODULE}:TinyTrainer"},
    views={"tiny": "models.davs.view:DavsView"},
    build_options="--features mfcc_davs --face-backend dlib",
    check_build=f"{MODULE}:check_build",
    summary="test method: conv encoder-decoder on 32x32 DAVS frames",
)


def register_tiny() -> None:
    register(SPEC)


def unregister_tiny() -> None:
    METHODS.pop("tiny", None)


if __name__ == "__main__":  # torchrun driver for the DDP test: -m <MODULE> <avprep args>
    import sys

    register_tiny()
    from avprep.cli import main

    main(sys.argv[1:])
