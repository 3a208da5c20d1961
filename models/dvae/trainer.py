"""DVAE's training stages on the shared core (:mod:`models.training.method`).

- ``vae`` (stage 1, Sec. 3.1/4.2): the disentangled audio VAE on 200 ms spectrogram segments,
  with Table 3's linear probes on frozen z_c / z_e trained alongside and reported at
  validation (viseme and emotion accuracy of each latent).
- ``landmarks``: the mouth-landmark regressor the landmark loss and LMD need on generated
  frames, trained on the shards' ``landmarks_crop256`` (the paper ran FAN [3] instead).
- ``gan`` (stage 2, Sec. 3.2-3.4): the auto-regressive U-Net generator conditioned on z_c of
  the frozen stage-1 VAE, against D_frame (with its viseme head) and D_video, WGAN-GP, plus
  the VGG-Face perceptual loss when the user supplies its weights (models.training.perceptual);
  the validation reports LMD on clean audio and each noise level side by side (Table 1).

Checkpoints from an earlier stage are read with :func:`load_checkpoint` (``modules`` and the
trainer's extra state: the spectrogram normalisation and the sequence table).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from avprep.features.noise import noise_level_tag
from models.data.collate import images_to_float
from models.dvae.config import DvaeTrainConfig
from models.dvae.losses import (
    gradient_penalty,
    landmark_l2,
    segment_objective,
)
from models.dvae.networks import (
    DisentangledAudioVAE,
    FrameCritic,
    LatentProbes,
    MouthLandmarkRegressor,
    UNetGenerator,
    VideoCritic,
    generate_sequence,
    reparameterize,
)
from models.dvae.normalize import SpectrogramStats, training_stats
from models.dvae.view import DvaeConfig, DvaeFaces, DvaeSegments, noisy_key
from models.training.method import MethodTrainer, SampleOutput, TrainContext
from models.training.perceptual import check_same_weights, perceptual_loss


def sequence_table(sources: Sequence[str], splits: Sequence[str] | None) -> dict[str, int]:
    """``{clip key: row}`` of the sequence prior table over the training split(s) of every
    build in ``sources`` (build order, then key order; the same on every rank)."""
    from avprep.reader import sequence_ids

    keys: list[str] = []
    seen: dict[str, str] = {}
    for source in sources:
        for key in sequence_ids(source, tuple(splits or ("train",))):
            if key in seen:
                raise ValueError(
                    f"clip key {key!r} is in both {seen[key]} and {source}: the sequence "
                    "table needs keys unique across the builds of one run"
                )
            seen[key] = source
            keys.append(key)
    return {k: i for i, k in enumerate(keys)}


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint file, or a run folder's latest (``checkpoints/step-*.pt``)."""
    p = Path(path)
    if p.is_dir():
        found = sorted((p / "checkpoints").glob("step-*.pt")) or sorted(p.glob("step-*.pt"))
        if not found:
            raise FileNotFoundError(f"{p} holds no checkpoints/step-*.pt")
        p = found[-1]
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint {p} not found")
    return torch.load(p, map_location="cpu", weights_only=False)


def checkpoint_extra(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The trainer's ``extra_state`` inside a core checkpoint (or a bare extra-state dict)."""
    for key in ("extra_state", "extra"):
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def _scalars(values: dict[str, torch.Tensor]) -> dict[str, float]:
    out = {}
    for k, v in values.items():
        v = v.detach().float()
        v = v[~torch.isnan(v)] if v.dim() else v
        if v.numel():
            out[k] = float(v.mean())
    return out


def _f(t: torch.Tensor) -> float:
    return float(t.detach())


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., H, W, 3)."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


class _DvaeStage(MethodTrainer):
    method = "dvae"

    def __init__(self, config: DvaeTrainConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        self.stats: SpectrogramStats | None = None

    def set_normalization(self, stats: SpectrogramStats) -> None:
        self.stats = stats

    def _normalized(self, segments: torch.Tensor) -> torch.Tensor:
        if self.stats is None:
            raise RuntimeError(
                "DVAE needs the spectrogram normalisation of its stage-1 training data: train "
                "stage 'vae' with --data, or give stage 'gan' the stage-1 checkpoint"
            )
        return self.stats.normalize(segments.float())

    def _dvae_view_config(self, **kw: Any) -> DvaeConfig:
        c = self.config
        return DvaeConfig(
            track=c.track, default_emotion=c.default_emotion,
            allow_recognized_visemes=c.allow_recognized_visemes, **kw,
        )  # fmt: skip


# ----------------------------------------------------------------------------- stage 1


class VaeTrainer(_DvaeStage):
    """Stage 1: the disentangled audio VAE (Adam 1e-3) and Table 3's probes."""

    def __init__(self, config: DvaeTrainConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        c = config
        self.sequence_ids = sequence_table(ctx.data, ctx.splits) if ctx.data else {}
        vae = DisentangledAudioVAE(
            c.n_bins, c.segment_steps, c.lstm_hidden, c.lstm_layers, c.z_content, c.z_emotion,
            c.z_sequence, c.n_visemes, c.n_emotions, len(self.sequence_ids),
        ).to(ctx.device)  # fmt: skip
        probes = LatentProbes(c.z_content, c.z_emotion, c.n_visemes, c.n_emotions).to(ctx.device)
        self.modules = {"vae": vae, "probes": probes}
        self.vae = ctx.wrap(vae)
        self.probes = ctx.wrap(probes)  # so DDP keeps the ranks' probes equal too
        self.optimizers = {
            "vae": torch.optim.Adam(vae.parameters(), lr=c.lr_vae, betas=c.betas_vae),
            "probes": torch.optim.Adam(probes.parameters(), lr=c.lr_probe),
        }

    def make_view(self) -> DvaeSegments:
        cfg = self._dvae_view_config(segments_per_clip=self.config.segments_per_clip)
        return DvaeSegments(cfg, self.sequence_ids)

    def _ensure_stats(self) -> None:
        if self.stats is None and self.ctx.data:
            self.stats = training_stats(
                self.ctx.data, self.ctx.splits, self.config.track, self.config.norm_max_clips
            )

    def _terms(self, batch: dict[str, Any]):
        self._ensure_stats()
        c = self.config
        x = self._normalized(batch["segment"])
        with self.ctx.autocast():
            out = self.vae(x)
        for name in ("z_content", "z_emotion", "z_sequence", "px_mu", "px_logvar"):
            setattr(out, name, getattr(out, name).float())
        out.q_content = tuple(t.float() for t in out.q_content)
        out.q_emotion = tuple(t.float() for t in out.q_emotion)
        out.q_sequence = tuple(t.float() for t in out.q_sequence)
        n_seg = batch.get("n_segments")
        if n_seg is None:
            n_seg = torch.ones_like(batch["viseme_id"])
        terms = segment_objective(
            x, out, self.modules["vae"], batch["viseme_id"], batch["emotion_id"],
            batch["sequence_id"], n_seg, latent_var=c.latent_var, prior_var=c.prior_var,
            alpha=c.alpha, beta=c.beta, gamma=c.gamma, margin=c.margin_loss,
        )  # fmt: skip
        return out, terms

    def _probe_losses(self, out, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.probes(out.q_content[0], out.q_emotion[0])
        targets = {"viseme": batch["viseme_id"], "emotion": batch["emotion_id"]}
        loss = out.q_content[0].new_zeros(())
        accs = {}
        for name, lg in logits.items():
            y = targets[name.split("_")[1]]
            ok = y >= 0
            if ok.any():
                loss = loss + F.cross_entropy(lg[ok], y[ok])
                accs[f"probe/{name}"] = (lg[ok].argmax(1) == y[ok]).float()
        return loss, accs

    @staticmethod
    def _report(terms, accs: dict[str, torch.Tensor]) -> dict[str, float]:
        values = {
            "loss": terms.loss, "log_px": terms.log_px, "kl_content": terms.kl_content,
            "kl_emotion": terms.kl_emotion, "kl_sequence": terms.kl_sequence,
            "bound": terms.bound, "log_p_viseme": terms.log_p_viseme,
            "log_p_emotion": terms.log_p_emotion, "log_p_sequence": terms.log_p_sequence,
            "margin_viseme": terms.margin_viseme, "margin_emotion": terms.margin_emotion,
            "acc_viseme": terms.acc_viseme, "acc_emotion": terms.acc_emotion,
        }  # fmt: skip
        values.update(accs)
        return _scalars(values)

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        out, terms = self._terms(batch)
        probe_loss, accs = self._probe_losses(out, batch)
        (terms.loss + probe_loss).backward()
        self.optimizers["vae"].step()
        self.optimizers["probes"].step()
        return self._report(terms, accs)

    @torch.no_grad()
    def validate(self, batch: dict[str, Any]) -> dict[str, float]:
        out, terms = self._terms(batch)
        _, accs = self._probe_losses(out, batch)
        return self._report(terms, accs)

    def extra_state(self) -> dict[str, Any]:
        return {
            "normalization": None if self.stats is None else self.stats.state(),
            "sequence_ids": dict(self.sequence_ids),
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if state.get("normalization") is not None:
            self.stats = SpectrogramStats.from_state(state["normalization"])
        ids = state.get("sequence_ids")
        if ids is not None:
            if len(ids) != len(self.sequence_ids) and self.sequence_ids:
                raise ValueError(
                    f"checkpoint's sequence table has {len(ids)} sequences, this run's data "
                    f"{len(self.sequence_ids)}: resume with the same --data and splits"
                )
            self.sequence_ids = dict(ids)

    def init_from(self, checkpoint: dict[str, Any]) -> None:
        """Continue from an earlier VAE run (the paper pre-trains on GRID, then trains on
        CREMA-D): every weight but a sequence table of another size (other sequences), and
        that run's normalisation so the encoders see inputs scaled as they learnt them."""
        state = checkpoint.get("modules", {}).get("vae")
        if state is not None:
            own = self.modules["vae"].state_dict()
            key = "sequence_prior.means"
            if key in state and state[key].shape != own[key].shape:
                state = {k: v for k, v in state.items() if k != key}
                state[key] = own[key]
            self.modules["vae"].load_state_dict(state)
        norm = checkpoint_extra(checkpoint).get("normalization")
        if norm is not None:
            self.stats = SpectrogramStats.from_state(norm)


# ----------------------------------------------------------------------------- landmarks


class LandmarkTrainer(_DvaeStage):
    """The mouth-landmark regressor on the shards' crop256 frames and landmarks (Adam)."""

    def __init__(self, config: DvaeTrainConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        reg = MouthLandmarkRegressor(config.landmark_width).to(ctx.device)
        self.modules = {"landmarks": reg}
        self.regressor = ctx.wrap(reg)
        self.optimizers = {"landmarks": torch.optim.Adam(reg.parameters(), lr=config.lr_landmarks)}

    def make_view(self) -> DvaeFaces:
        cfg = self._dvae_view_config(seq_len=self.config.seq_len, defer_jpeg=self.config.defer_jpeg)
        return DvaeFaces(cfg)

    def _predict(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        frames = images_to_float(batch["frames"]).flatten(0, 1)
        target = batch["mouth_landmarks"].float().flatten(0, 1)
        with self.ctx.autocast():
            pred = self.regressor(frames)
        return pred.float(), target

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        self.optimizers["landmarks"].zero_grad(set_to_none=True)
        pred, target = self._predict(batch)
        loss = landmark_l2(pred, target)
        loss.backward()
        self.optimizers["landmarks"].step()
        error = (pred.detach() - target).norm(dim=-1).mean()
        return {"loss": float(loss.detach()), "error_px": float(error)}

    @torch.no_grad()
    def validate(self, batch: dict[str, Any]) -> dict[str, float]:
        pred, target = self._predict(batch)
        return {
            "loss": float(landmark_l2(pred, target)),
            "error_px": float((pred - target).norm(dim=-1).mean()),
        }


# ----------------------------------------------------------------------------- stage 2


class GanTrainer(_DvaeStage):
    """Stage 2: G (U-Net, auto-regressive) vs D_frame and D_video (WGAN-GP), Adam 1e-4.

    The critics step every call; G every ``n_critic``-th (WGAN-GP's schedule, each critic
    iteration on a fresh batch). The stage-1 VAE and the landmark regressor are frozen."""

    def __init__(self, config: DvaeTrainConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        c, dev = config, ctx.device
        vae = DisentangledAudioVAE(
            c.n_bins, c.segment_steps, c.lstm_hidden, c.lstm_layers, c.z_content, c.z_emotion,
            c.z_sequence, c.n_visemes, c.n_emotions, 1,
        )  # fmt: skip
        self.modules = {
            "vae": vae.to(dev),
            "landmarks": MouthLandmarkRegressor(c.landmark_width).to(dev),
            "generator": UNetGenerator(c.z_content, c.ngf, c.unet_depth).to(dev),
            "frame_critic": FrameCritic(c.z_content, c.ndf, c.d_frame_layers, c.n_visemes).to(dev),
            "video_critic": VideoCritic(c.z_content, c.d_video_channels).to(dev),
        }
        self.loaded = {"vae": False, "landmarks": False}
        if c.vae_checkpoint:
            self._load_vae(load_checkpoint(c.vae_checkpoint))
        if c.landmark_checkpoint:
            self._load_landmarks(load_checkpoint(c.landmark_checkpoint))
        for name in ("vae", "landmarks"):
            self.modules[name].eval().requires_grad_(False)
        if ctx.channels_last:
            for name in ("generator", "frame_critic"):
                self.modules[name].to(memory_format=torch.channels_last)
        self.generator = ctx.wrap(self.modules["generator"])
        self.frame_critic = ctx.wrap(self.modules["frame_critic"])
        self.video_critic = ctx.wrap(self.modules["video_critic"])
        critic_params = [
            *self.modules["frame_critic"].parameters(),
            *self.modules["video_critic"].parameters(),
        ]
        self.optimizers = {
            "generator": torch.optim.Adam(
                self.modules["generator"].parameters(), lr=c.lr_gan, betas=c.betas_gan
            ),
            "critics": torch.optim.Adam(critic_params, lr=c.lr_gan, betas=c.betas_gan),
        }
        # the frozen VGG-Face of the perceptual loss: not in ``modules`` (user-supplied
        # weights are not part of the checkpoint), recorded by path and sha256 instead
        self.vgg = None
        self.vgg_record: dict[str, Any] | None = None
        if c.perceptual:
            from models.training.perceptual import load_vgg_face, weights_record

            vgg = load_vgg_face(c.vgg_face_weights, c.perceptual_layers, c.perceptual_size)
            self.vgg = vgg.to(dev)
            self.vgg_record = weights_record(c.vgg_face_weights)

    def _load_vae(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("modules", {}).get("vae")
        if state is None:
            raise ValueError("the stage-1 checkpoint has no 'vae' module")
        # stage 2 needs only the encoders; the sequence table belongs to stage 1's data
        own = self.modules["vae"].state_dict()
        state = dict(state)
        state["sequence_prior.means"] = own["sequence_prior.means"]
        self.modules["vae"].load_state_dict(state)
        norm = checkpoint_extra(checkpoint).get("normalization")
        if norm is None:
            raise ValueError("the stage-1 checkpoint holds no spectrogram normalisation")
        self.stats = SpectrogramStats.from_state(norm)
        self.loaded["vae"] = True

    def _load_landmarks(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("modules", {}).get("landmarks")
        if state is None:
            raise ValueError("the landmark checkpoint has no 'landmarks' module")
        self.modules["landmarks"].load_state_dict(state)
        self.loaded["landmarks"] = True

    def init_from(self, checkpoint: dict[str, Any]) -> None:
        mods = checkpoint.get("modules", {})
        if "vae" in mods:
            self._load_vae(checkpoint)
        if "landmarks" in mods:
            self._load_landmarks(checkpoint)
        for name in ("generator", "frame_critic", "video_critic"):
            if name in mods:
                self.modules[name].load_state_dict(mods[name])

    def make_view(self) -> DvaeFaces:
        return DvaeFaces(
            self._dvae_view_config(seq_len=self.config.seq_len, defer_jpeg=self.config.defer_jpeg),
            noise_levels_db=self.config.val_noise_db,
            train_splits=self.ctx.splits or ("train",),
            noise_seed=self.config.noise_seed,
        )

    def _check_ready(self) -> None:
        if not self.loaded["vae"]:
            raise RuntimeError(
                "stage 'gan' needs the stage-1 VAE: set vae_checkpoint or --init a 'vae' run"
            )
        if self.config.landmark_weight > 0 and not self.loaded["landmarks"]:
            raise RuntimeError(
                "stage 'gan' needs the mouth-landmark regressor for its landmark loss: set "
                "landmark_checkpoint (train stage 'landmarks' first) or landmark_weight=0"
            )

    def content(self, segments: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """z_c for segments (B, L, T, F) -> (B, L, D): sampled from q(z_c | x) (Sec. 3:
        "content representations are sampled from the learned distribution"), or its mean."""
        x = self._normalized(segments).flatten(0, 1)
        with torch.no_grad():
            mu, logvar = self.modules["vae"].encode_content(x)
            z = reparameterize(mu, logvar) if sample else mu
        return z.float().view(*segments.shape[:2], -1)

    def _inputs(self, batch: dict[str, Any]):
        frames = images_to_float(batch["frames"])  # (B, L, 3, H, W)
        face = images_to_float(batch["reference"])  # (B, 3, H, W)
        return frames, face

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        self._check_ready()
        c = self.config
        frames, face = self._inputs(batch)
        z = self.content(batch["segments"])
        visemes = batch["viseme_ids"].flatten()
        update_g = step % c.n_critic == 0
        G, Df, Dv = self.generator, self.frame_critic, self.video_critic
        with torch.set_grad_enabled(update_g), self.ctx.autocast():
            fake = generate_sequence(G, face, z)
        fake = fake.float()
        real_f, fake_f, z_f = frames.flatten(0, 1), fake.flatten(0, 1), z.flatten(0, 1)

        # critics. Under DDP (critics wrapped) the gradient penalty's double backward is done
        # the way PyTorch's DDP supports (pytorch/pytorch#63812, #47562): autograd.grad with
        # create_graph=True w.r.t. the interpolated inputs only, so its out-of-place gradients
        # never reach DDP's hooks on the parameters' gradient accumulators; then ONE backward
        # of the whole critic loss, in which every critic parameter gets its full gradient
        # (first-order terms + the penalty's double-backward path) in one accumulation, so
        # DDP all-reduces each exactly once. Do not backward the penalty on its own (e.g.
        # lazily every k steps): parameters with no path to dD/dx (a last bias, the viseme
        # head) would get no gradient there and DDP would wait for them or mark them twice.
        # tests/models/dvae/test_dvae_ddp.py checks that 2 ranks stay identical with it.
        self.modules["frame_critic"].requires_grad_(True)
        self.modules["video_critic"].requires_grad_(True)
        self.optimizers["critics"].zero_grad(set_to_none=True)
        with self.ctx.autocast():
            s_real, cls_real = Df(real_f, z_f)
            s_fake, _ = Df(fake_f.detach(), z_f)
            v_real = Dv(frames, z)
            v_fake = Dv(fake.detach(), z)
        gp_f = gradient_penalty(Df, real_f, fake_f, z_f)
        gp_v = gradient_penalty(Dv, frames, fake, z)
        w_frame = s_real.float().mean() - s_fake.float().mean()
        w_video = v_real.float().mean() - v_fake.float().mean()
        cls_loss = F.cross_entropy(cls_real.float(), visemes)
        d_loss = -w_frame - w_video + c.gp_weight * (gp_f + gp_v) + c.viseme_weight * cls_loss
        d_loss.backward()
        self.optimizers["critics"].step()
        out = {
            "loss_d": _f(d_loss), "wasserstein_frame": _f(w_frame),
            "wasserstein_video": _f(w_video), "gp_frame": _f(gp_f), "gp_video": _f(gp_v),
            "d_viseme_ce": _f(cls_loss),
            "d_viseme_acc": _f((cls_real.argmax(1) == visemes).float().mean()),
        }  # fmt: skip
        if not update_g:
            return out

        # generator: the critics are frozen constants here, so they run unwrapped (as CRAN's
        # D): only G's gradients are to be synced, and a DDP forward whose parameters get no
        # gradient would only add a buffer broadcast and hooks that never fire
        Df_, Dv_ = self.modules["frame_critic"], self.modules["video_critic"]
        Df_.requires_grad_(False)
        Dv_.requires_grad_(False)
        self.optimizers["generator"].zero_grad(set_to_none=True)
        with self.ctx.autocast():
            g_frame, cls_fake = Df_(fake_f, z_f)
            g_video = Dv_(fake, z)
        adv = -g_frame.float().mean() - g_video.float().mean()
        g_cls = F.cross_entropy(cls_fake.float(), visemes)
        l1 = (fake - frames).abs().mean()
        g_loss = adv + c.viseme_weight * g_cls + c.l1_weight * l1
        if c.landmark_weight > 0:
            with self.ctx.autocast():
                lm_fake = self.modules["landmarks"](fake_f)
            lm_loss = landmark_l2(lm_fake.float(), batch["mouth_landmarks"].float().flatten(0, 1))
            g_loss = g_loss + c.landmark_weight * lm_loss
            out["g_landmark"] = _f(lm_loss)
        if self.vgg is not None:  # frozen VGG-Face; the real frames' features need no graph
            with self.ctx.autocast():
                per = perceptual_loss(self.vgg, fake_f, real_f)
            g_loss = g_loss + c.perceptual_weight * per
            out["g_perceptual"] = _f(per)
        g_loss.backward()
        self.optimizers["generator"].step()
        out.update(loss_g=_f(g_loss), g_adv=_f(adv), g_viseme_ce=_f(g_cls), g_l1=_f(l1))
        return out

    @torch.no_grad()
    def _generate(self, batch: dict[str, Any], segments: torch.Tensor) -> torch.Tensor:
        _, face = self._inputs(batch)
        with self.ctx.autocast():
            return generate_sequence(
                self.generator, face, self.content(segments, sample=False)
            ).float()

    @torch.no_grad()
    def validate(self, batch: dict[str, Any]) -> dict[str, float]:
        """LMD (pixels; the regressor on real and generated frames, as the paper ran FAN on
        both; :func:`models.eval.landmark_distance.mouth_landmark_distance` per clip, mean
        over clips) on clean audio and on each noise level present in the batch, side by
        side; on clean audio also LMD against the build's landmarks, L1, PSNR and SSIM
        (:mod:`models.eval.image_quality`, Table 2). z_c is the posterior mean here."""
        from models.eval.image_quality import batch_psnr_ssim, generator_to_uint8
        from models.eval.landmark_distance import mouth_landmark_distance

        self._check_ready()
        frames, _ = self._inputs(batch)
        reg = self.modules["landmarks"]

        def landmarks(x: torch.Tensor) -> np.ndarray:
            return reg(x.flatten(0, 1)).view(*x.shape[:2], -1, 2).float().cpu().numpy()

        def lmd(real: np.ndarray, fake: np.ndarray) -> float:
            pairs = zip(real, fake, strict=True)
            return float(np.mean([mouth_landmark_distance(r, f) for r, f in pairs]))

        lm_real = landmarks(frames)
        out: dict[str, float] = {}
        conditions = [("clean", batch["segments"])]
        for level in self.config.val_noise_db:
            if noisy_key(level) in batch:
                conditions.append((f"noise{noise_level_tag(level)}db", batch[noisy_key(level)]))
        for name, segs in conditions:
            fake = self._generate(batch, segs)
            lm_fake = landmarks(fake)
            out[f"lmd/{name}"] = lmd(lm_real, lm_fake)
            if name == "clean":
                stored = batch["mouth_landmarks"].float().cpu().numpy()
                out["lmd_stored/clean"] = lmd(stored, lm_fake)
                out["l1"] = float((fake - frames).abs().mean())
                real8 = batch["frames"].flatten(0, 1).movedim(-1, 1).float()
                out.update(batch_psnr_ssim(real8, generator_to_uint8(fake.flatten(0, 1))))
        return out

    @torch.no_grad()
    def sample(self, batch: dict[str, Any]) -> SampleOutput:
        self._check_ready()
        fake = self._generate(batch, batch["segments"])
        return SampleOutput(
            identity=batch["reference"].cpu().numpy(),
            truth=batch["frames"].cpu().numpy(),
            generated=_to_uint8(fake),
        )

    def extra_state(self) -> dict[str, Any]:
        return {
            "normalization": None if self.stats is None else self.stats.state(),
            "loaded": dict(self.loaded),
            "vgg_face": self.vgg_record,
        }

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if state.get("normalization") is not None:
            self.stats = SpectrogramStats.from_state(state["normalization"])
        self.loaded.update(state.get("loaded") or {})
        if "vgg_face" in state:  # (checkpoints from before the record have no key)
            check_same_weights(state["vgg_face"], self.vgg_record)
