"""CRAN's training stages on the shared core (contract: :mod:`models.training.method`).

- :class:`CranCaeTrainer` (``cae``): E_A, E_I and G; every frame generated on its own from
  the reference face and its MFCC window; L1 reconstruction (Eq. 1).
- :class:`CranCaeGanTrainer` (``cae_gan``): the same plus the multi-task discriminator
  (Eqs. 2-3, weight 1e-3) and, with VGG-Face weights, the perceptual loss (Eq. 4, 1e-4);
  starts from the ``cae`` checkpoint (``init_from``).
- :class:`CranRaeTrainer` (``rae``): the GRU over [z_A(t), z_I] for ``seq_len``-frame
  sequences, initialised from a CAE checkpoint (encoders, decoder and, when there, D).

Every step: generate; when adversarial, one discriminator update (Eq. 3, on the detached
frames, real frames paired with their own and with mismatched audio codes); then one
generator update (Eq. 5's L_rec + gamma L_per + lambda L_G). D judges the audio codes as
they are (detached): E_A learns from the reconstruction path, not from fooling D's
matching head. With Adam, D's own loss needs no lambda (a constant factor on the only loss
of an Adam-trained network does not change its steps), so D minimises L_D itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.cran.config import CranTrainConfig
from models.cran.losses import (
    discriminator_loss,
    generator_adversarial_loss,
    reconstruction_loss,
)
from models.cran.networks import (
    AudioEncoder,
    Decoder,
    ImageEncoder,
    MultiTaskDiscriminator,
    RecurrentEncoder,
)
from models.cran.view import cran_view
from models.data import images_to_float
from models.eval.motion import movement_intensity
from models.training.method import MethodTrainer, SampleOutput, TrainContext

GENERATOR_MODULES = ("audio_encoder", "image_encoder", "recurrent", "decoder")


def selection_record(selection: str | os.PathLike) -> dict[str, Any]:
    """What identifies a ``select-samples`` output (local or remote): its path, the sha256
    of its selection.parquet and how many keys it selects."""
    import fsspec

    from avprep.reader import selected_keys

    fs, path = fsspec.core.url_to_fs(os.fspath(selection))
    parquet = path.rstrip("/") + "/selection.parquet" if fs.isdir(path) else path
    if not fs.isfile(parquet):
        raise FileNotFoundError(
            f"selection {os.fspath(selection)!r}: no selection.parquet there (make one with "
            "`avprep select-samples`)"
        )
    digest = hashlib.sha256(fs.cat_file(parquet)).hexdigest()
    return {
        "path": os.fspath(selection),
        "sha256": digest,
        "n_keys": len(selected_keys(selection)),
    }


def run_selection(ctx: TrainContext) -> str | None:
    """The ``--selection`` of this run: ``ctx.selection`` when the core passes it, else the
    ``train.selection`` of the run folder's config.json (written before the trainer)."""
    selection = getattr(ctx, "selection", None)
    if selection is None and ctx.run_dir:
        saved = Path(ctx.run_dir, "config.json")
        if saved.is_file():
            selection = (json.loads(saved.read_text()).get("train") or {}).get("selection")
    return selection


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [-1, 1] -> uint8 numpy (..., H, W, 3)."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


class CranTrainer(MethodTrainer):
    """Shared by the three stages; a stage is a subclass fixing ``stage``."""

    method = "cran"
    min_batch_size = 2  # E_I's and G's BatchNorm1d after the FC layers need two items
    stage = "cae"
    recurrent = False

    def __init__(self, config: CranTrainConfig, ctx: TrainContext) -> None:
        if config.stage != self.stage:
            raise ValueError(
                f"{type(self).__name__} trains stage {self.stage!r}, config says {config.stage!r}"
            )
        super().__init__(config, ctx)
        cfg, div = config, config.channel_divisor
        code = max(1, cfg.code_dim // div)
        modules: dict[str, nn.Module] = {
            "audio_encoder": AudioEncoder(code, div),
            "image_encoder": ImageEncoder(code, div),
            "decoder": Decoder(2 * code, div),
        }
        if self.recurrent:
            modules["recurrent"] = RecurrentEncoder(2 * code, max(1, cfg.gru_hidden // div))
        self.adversarial = cfg.use_adversarial
        if self.adversarial:
            modules["discriminator"] = MultiTaskDiscriminator(code, div)
        fmt = torch.channels_last if ctx.channels_last else torch.contiguous_format
        for name, m in modules.items():
            self.modules[name] = m.to(ctx.device, memory_format=fmt)
        self.run = {name: ctx.wrap(m) for name, m in self.modules.items()}
        betas = (cfg.beta1, cfg.beta2)
        gen_params = [p for n in GENERATOR_MODULES if n in modules for p in modules[n].parameters()]
        self.optimizers["generator"] = torch.optim.Adam(gen_params, lr=cfg.lr, betas=betas)
        if self.adversarial:
            self.optimizers["discriminator"] = torch.optim.Adam(
                modules["discriminator"].parameters(), lr=cfg.lr, betas=betas
            )
        self.vgg = None
        self.vgg_record: dict[str, Any] | None = None
        if cfg.perceptual:
            from models.training.perceptual import load_vgg_face, weights_record

            self.vgg = load_vgg_face(cfg.vgg_face_weights, cfg.perceptual_layers).to(ctx.device)
            self.vgg_record = weights_record(cfg.vgg_face_weights)
        # The sample selection is the paper's point (Sec. 3.3): record exactly which one
        # this run reads (the core's --selection; its path is also in config.json).
        selection = run_selection(ctx)
        self.selection = selection_record(selection) if selection else None
        if self.selection and ctx.run_dir and ctx.is_main:
            Path(ctx.run_dir).mkdir(parents=True, exist_ok=True)
            Path(ctx.run_dir, "selection.json").write_text(json.dumps(self.selection, indent=2))
        self.initialised_from: list[str] = []

    # ------------------------------------------------------------------ data and forward
    def make_view(self):
        return cran_view(self.config)

    def _images(self, batch: dict[str, Any], key: str) -> torch.Tensor:
        """uint8 (B, [L,] H, W, 3) -> float (B*[L], 3, H, W) in [-1, 1] on the device."""
        x = images_to_float(batch[key].to(self.ctx.device))
        if x.dim() == 5:
            x = x.flatten(0, 1)
        if self.ctx.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def generate(
        self, reference: torch.Tensor, mfcc: torch.Tensor, train: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``reference`` (B, 3, 112, 112), ``mfcc`` (B, L, 12, 35) -> frames (B, L, 3, 112,
        112) in [-1, 1] and the audio codes z_A (B*L, code)."""
        run = self.run if train else self.modules
        B, L = mfcc.shape[:2]
        z_audio = run["audio_encoder"](mfcc.reshape(B * L, *mfcc.shape[2:]).float())
        z_image, skips = run["image_encoder"](reference)
        if self.recurrent:
            hybrid = torch.cat([z_audio.view(B, L, -1), z_image[:, None].expand(-1, L, -1)], -1)
            code = run["recurrent"](hybrid).reshape(B * L, -1)
        else:
            code = torch.cat([z_audio, z_image.repeat_interleave(L, 0)], 1)
        skips = [s.repeat_interleave(L, 0) for s in skips]
        out = run["decoder"](code, skips)
        return out.view(B, L, *out.shape[1:]), z_audio

    # ------------------------------------------------------------------ steps
    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        reference = self._images(batch, "reference")
        real = self._images(batch, "frames")
        with self.ctx.autocast():
            fake, z_audio = self.generate(reference, batch["mfcc"].to(self.ctx.device))
        fake = fake.flatten(0, 1)
        scalars: dict[str, float] = {}
        if self.adversarial:
            mismatch = batch["mfcc_mismatch"].to(self.ctx.device)
            scalars.update(self.discriminator_step(real, fake.detach(), z_audio.detach(), mismatch))
        scalars.update(self.generator_step(real, fake, z_audio.detach()))
        return scalars

    def discriminator_step(
        self, real: torch.Tensor, fake: torch.Tensor, z_audio: torch.Tensor, mfcc_mismatch
    ) -> dict[str, float]:
        """One update of D on Eq. 3: real frames with their own audio codes (real) and with
        the codes of mismatched windows (fake), generated frames with their codes (fake)."""
        with torch.no_grad(), self.ctx.autocast():
            flat = mfcc_mismatch.reshape(-1, *mfcc_mismatch.shape[-2:]).float()
            z_mismatch = self.modules["audio_encoder"](flat)
        with self.ctx.autocast():
            out = self.run["discriminator"](real, fake, z_audio, z_mismatch)
        losses = discriminator_loss(
            out["real_image"], out["fake_image"], out["real_match"], out["mismatch"],
            out["fake_match"],
        )  # fmt: skip
        opt = self.optimizers["discriminator"]
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        probs = {k: torch.sigmoid(v.detach().float()).mean().item() for k, v in out.items()}
        return {
            "loss_d": losses["total"].item(),
            "loss_d_image": losses["image"].item(),
            "loss_d_match": losses["match"].item(),
            **{f"d_{k}": v for k, v in probs.items()},
        }

    def generator_step(
        self, real: torch.Tensor, fake: torch.Tensor, z_audio: torch.Tensor
    ) -> dict[str, float]:
        """One update of E_A, E_I, (GRU), G on L_rec + gamma L_per + lambda L_G. D is used
        unwrapped with its parameters frozen: only the frames get gradients."""
        cfg = self.config
        rec = reconstruction_loss(fake, real)
        loss = cfg.rec_weight * rec
        scalars = {"loss_rec": rec.item()}
        if self.vgg is not None:
            from models.training.perceptual import perceptual_loss

            with self.ctx.autocast():
                per = perceptual_loss(self.vgg, fake, real)
            loss = loss + cfg.perceptual_weight * per
            scalars["loss_perceptual"] = per.item()
        if self.adversarial:
            d = self.modules["discriminator"]
            d.requires_grad_(False)
            try:
                with self.ctx.autocast():
                    feats = d.features(fake)
                    image_logits = d.image_logits(feats)
                    match_logits = d.match_logits(feats, z_audio)
                adv = generator_adversarial_loss(image_logits, match_logits, cfg.gan_non_saturating)
            finally:
                d.requires_grad_(True)
            loss = loss + cfg.adversarial_weight * adv
            scalars["loss_g_adv"] = adv.item()
        opt = self.optimizers["generator"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        scalars["loss_g"] = loss.item()
        return scalars

    # ------------------------------------------------------------------ outputs
    def _eval_generate(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        modes = {n: m.training for n, m in self.modules.items()}
        for m in self.modules.values():
            m.eval()
        try:
            with torch.no_grad(), self.ctx.autocast():
                fake, _ = self.generate(
                    self._images(batch, "reference"),
                    batch["mfcc"].to(self.ctx.device),
                    train=False,
                )
        finally:
            for n, m in self.modules.items():
                m.train(modes[n])
        return fake.float(), self._images(batch, "frames").reshape(fake.shape)

    def sample(self, batch: dict[str, Any]) -> SampleOutput:
        fake, _ = self._eval_generate(batch)
        return SampleOutput(
            identity=batch["reference"].cpu().numpy(),
            truth=batch["frames"].cpu().numpy(),
            generated=to_uint8(fake),
        )

    @torch.no_grad()
    def validate(self, batch: dict[str, Any]) -> dict[str, float]:
        """L1 reconstruction, PSNR/SSIM of the saved-frame values, and the Fig. 5
        movement intensity (mean u^2 + v^2 of the Farneback flow between consecutive frames)
        of generated vs real sequences (the first ``val_motion_items`` of the batch)."""
        from models.eval.image_quality import batch_psnr_ssim, generator_to_uint8

        fake, real = self._eval_generate(batch)
        out = {"val_loss_rec": reconstruction_loss(fake, real).item()}
        quality = batch_psnr_ssim(
            generator_to_uint8(real.flatten(0, 1)), generator_to_uint8(fake.flatten(0, 1))
        )
        out.update({f"val_{k}": v for k, v in quality.items()})
        n = min(self.config.val_motion_items, fake.shape[0])
        if fake.shape[1] >= 2 and n > 0:
            gen_frames, real_frames = to_uint8(fake[:n]), batch["frames"][:n].cpu().numpy()
            gen = [movement_intensity(f) for f in gen_frames]
            ref = [movement_intensity(f) for f in real_frames]
            out["movement_intensity_generated"] = float(np.mean(gen))
            out["movement_intensity_real"] = float(np.mean(ref))
            out["movement_intensity_abs_diff"] = float(np.mean(np.abs(np.subtract(gen, ref))))
        return out

    # ------------------------------------------------------------------ stage hand-off
    def init_from(self, checkpoint: dict[str, Any]) -> None:
        """Load every module this stage shares with the checkpoint's (a fresh GRU in
        ``rae``, a fresh D when the previous stage had none). The encoders and the decoder
        must be there: a CRAN stage starts from a CRAN checkpoint."""
        saved = checkpoint.get("modules", {})
        needed = ("audio_encoder", "image_encoder", "decoder")
        missing = [n for n in needed if n not in saved]
        if missing:
            raise ValueError(
                f"the --init checkpoint has no {', '.join(missing)}: start {self.stage!r} "
                "from a CRAN cae/cae_gan (or rae) checkpoint"
            )
        self.initialised_from = []
        for name, state in saved.items():
            if name in self.modules:
                self.modules[name].load_state_dict(state)
                self.initialised_from.append(name)

    def extra_state(self) -> dict[str, Any]:
        return {
            "selection": self.selection,
            "initialised_from": list(self.initialised_from),
            "vgg_face": self.vgg_record,
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        saved = state.get("selection")
        if saved and self.selection and saved["sha256"] != self.selection["sha256"]:
            raise ValueError(
                f"this run trained on selection {saved['path']!r} (sha256 {saved['sha256'][:12]}), "
                f"not {self.selection['path']!r}: resume with the same --selection"
            )
        if saved and not self.selection:
            self.selection = saved
        if "vgg_face" in state:  # (checkpoints from before the record have no key)
            from models.training.perceptual import check_same_weights

            check_same_weights(state["vgg_face"], self.vgg_record)
        self.initialised_from = list(state.get("initialised_from", []))


class CranCaeTrainer(CranTrainer):
    """``cae``: the conditional auto-encoder on single frames, L1 only (50 epochs)."""

    stage = "cae"


class CranCaeGanTrainer(CranTrainer):
    """``cae_gan``: the CAE with the multi-task discriminator and perceptual loss (30 epochs)."""

    stage = "cae_gan"


class CranRaeTrainer(CranTrainer):
    """``rae``: RAE_IA, the GRU over [z_A(t), z_I] on 70-frame sequences (50 epochs)."""

    stage = "rae"
    recurrent = True
