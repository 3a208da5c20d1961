"""DAVS training stages on the shared core (:class:`models.training.MethodTrainer`).

- ``joint`` (:class:`DavsJointTrainer`): ``Gen_final_v1.GenModel.optimize_parameters``, the
  full model: pid/wid encoders, decoder, shared word classifier, domain discriminator,
  word-from-pid classifier, sequence discriminator; D then G every step.
- ``word`` (:class:`DavsWordTrainer`): the wid space alone
  (``optimize_parameters_no_generation``): audio and video word encoders, shared classifier,
  contrastive loss, domain-adversarial training.
- ``identity`` (:class:`DavsIdentityTrainer`): the pid encoder as a person classifier on an
  identity-face build (paper Sec. 4: an MS-Celeb-1M subset); the official repository ships
  no script for it (``util.load_separately`` only loads its result), so this is the plain
  softmax cross-entropy the paper names, with the official ``Face_ID_fc`` head.

Module names are the official attribute names, so a stage's checkpoint maps one-to-one onto
the official layout (:mod:`models.davs.checkpoint`). ``--init`` from an earlier stage loads
the modules the stages share (word -> joint: the wid encoders and classifier; identity ->
joint: ``ID_encoder``).

Per-step frame sampling (``set_input``/``forward``), on a clip item of L >= 24 consecutive
frames: 12 frames every other frame from a random start in {0, 1} (``pred_length``) for the
word classifier and the contrastive loss; 6 consecutive of those 12 (so every other video
frame, as the official code takes them) for generation; 20 consecutive frames from a random
start for the word-from-pid classifier; the identity frame is a random good frame of the
clip (the view's ``identity_frame``). Images are float in [0, 1].

Fixed or changed relative to the official code (see also losses.py, networks.py):
- the word stage's official code does not run (``self.Contrastive`` and ``self.audio_pred``
  are undefined, and its contrastive features are neither normalised nor whole clips); here
  it uses the joint stage's normalised 12-frame contrastive loss, in both directions as the
  official word code intends (each side pulled towards the other, detached);
- the decoder runs once per batch for the 6 audio frames and once for the 6 video frames
  (official: one call per frame, i.e. BatchNorm statistics over B instead of 6B);
- D's parameters are frozen while G's loss runs through them (official: their gradients are
  computed and thrown away at the next ``zero_grad``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.davs import losses as L
from models.davs.config import DavsTrainConfig
from models.davs.geometry import mouth_box
from models.davs.networks import (
    Decoder,
    Discriminator,
    Face_ID_fc,
    FanFusion,
    ID_dis32,
    IdentityEncoder,
    ModelFusion,
    discriminator_audio,
    mfcc_encoder_two,
    weights_init,
)
from models.davs.view import DavsConfig, DavsIdentityConfig, DavsIdentityView, DavsTrainView
from models.training.method import MethodTrainer, SampleOutput, TrainContext


def make_network(name: str, cfg: DavsTrainConfig, person_classes: int = 0) -> nn.Module:
    """One DAVS network by its official attribute name, initialised as the official code."""
    w, s = cfg.width, cfg.image_size
    if name == "ID_encoder":
        return IdentityEncoder(w, s)
    if name == "Decoder":
        return Decoder(w, s)
    if name == "mfcc_encoder":
        return mfcc_encoder_two(w)
    if name == "lip_feature_encoder":
        return FanFusion(w, s)
    if name == "model_fusion":
        return ModelFusion(cfg.pred_length, cfg.word_classes, w)
    if name == "discriminator_audio":
        return discriminator_audio(w)
    if name == "ID_lip_discriminator":
        net = ID_dis32(cfg.disfc_length, cfg.word_classes, w, s)
        net.apply(weights_init)
        return net
    if name in ("netD_mul", "netD"):
        frames = cfg.sequence_length if name == "netD_mul" else 1
        net = Discriminator(3 * frames, width=w, image_size=s)
        net.apply(weights_init)
        return net
    if name == "Face_ID_fc":
        if person_classes < 1:
            raise ValueError("the identity stage needs person_classes >= 1")
        return Face_ID_fc(person_classes, w)
    raise KeyError(f"no DAVS network {name!r}")


def images01(
    x: torch.Tensor, channels_last: bool = False, size: int | None = None
) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [0, 1] (the official ``image / 255``).

    ``size``: the networks' ``image_size``; larger square images are box-filtered down to it
    (``area``: the mean of each k x k block). The builds' DAVS crops are always 256x256 (the
    official template crop), so a network built smaller (``image_size`` 64 or 128, for tests
    and demos) sees the whole face at its own resolution, as the template and mouth box
    (:mod:`models.davs.geometry`, scaled from the template) assume."""
    if x.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {x.dtype}")
    out = x.movedim(-1, -3).float().div_(255.0)
    if size is not None and tuple(out.shape[-2:]) != (size, size):
        h, w = out.shape[-2:]
        if h != w or h < size:
            raise ValueError(
                f"DAVS images are {h}x{w}; the networks take {size}x{size} (square crops at "
                f"least that size, downsampled to it): set image_size to at most {min(h, w)}"
            )
        lead = out.shape[:-3]
        out = F.interpolate(out.reshape(-1, 3, h, w), size=(size, size), mode="area")
        out = out.reshape(*lead, 3, size, size)
    if channels_last and out.dim() == 4:
        out = out.contiguous(memory_format=torch.channels_last)
    return out


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (..., 3, H, W) in [0, 1] -> uint8 (..., H, W, 3)."""
    x = x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.movedim(-3, -1).cpu().numpy()


def _set_requires_grad(params: Iterable[nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def _f(x: torch.Tensor) -> float:
    return float(x.detach())


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).float().mean()) * 100.0


def _randint(low: int, high: int) -> int:
    """Uniform integer in [low, high] (inclusive, like Python's ``random.randint`` that the
    official code uses) from torch's global generator, which the core checkpoints."""
    return int(torch.randint(low, high + 1, ()))


def person_classes_from_builds(data: Iterable[str]) -> int:
    """1 + the largest ``person_id`` in the builds' manifests."""
    import pyarrow.parquet as pq

    from avprep import storage
    from avprep.build_layout import BuildLayout

    top = -1
    for build in data:
        path = BuildLayout(str(build)).manifest
        if not storage.exists(path):
            continue
        with storage.open_binary(path) as f:
            table = pq.read_table(f, columns=["labels", "status"])
        for row in table.to_pylist():
            if row["status"] == "ok" and row["labels"]:
                pid = json.loads(row["labels"]).get("person_id")
                if pid is not None:
                    top = max(top, int(pid))
    return top + 1


class _DavsTrainer(MethodTrainer):
    method = "davs"
    generator_names: tuple[str, ...] = ()
    discriminator_names: tuple[str, ...] = ()

    def __init__(self, config: DavsTrainConfig, ctx: TrainContext) -> None:
        super().__init__(config, ctx)
        self.config: DavsTrainConfig = config
        unknown = set(config.frozen) - set(self.generator_names + self.discriminator_names)
        if unknown:
            raise ValueError(
                f"frozen: {', '.join(sorted(unknown))} not in the {config.stage} stage "
                f"({', '.join(self.generator_names + self.discriminator_names)})"
            )
        person_classes = self._person_classes()
        for name in self.generator_names + self.discriminator_names:
            m = make_network(name, config, person_classes).to(ctx.device)
            if ctx.channels_last:
                m = m.to(memory_format=torch.channels_last)
            self.modules[name] = m
        self._wrapped = {n: ctx.wrap(m) for n, m in self.modules.items() if n not in config.frozen}
        for name in config.frozen:
            self.modules[name].requires_grad_(False).eval()
        for group, names in (("G", self.generator_names), ("D", self.discriminator_names)):
            params = [  # not the official never-used layers (created frozen)
                p
                for n in names
                if n not in config.frozen
                for p in self.modules[n].parameters()
                if p.requires_grad
            ]
            if params:
                self.optimizers[group] = torch.optim.Adam(
                    params, lr=config.lr, betas=(config.beta1, config.beta2)
                )
        self.box = mouth_box(config.image_size)

    def _person_classes(self) -> int:
        return 0

    def net(self, name: str) -> nn.Module:
        """The module to call in a training forward (wrapped unless frozen)."""
        return self._wrapped.get(name, self.modules[name])

    def _train_mode(self) -> None:
        for name, m in self.modules.items():
            m.train(name not in self.config.frozen)

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        return images01(x, self.ctx.channels_last, self.config.image_size)

    def _word_labels(self, batch: dict[str, Any]) -> torch.Tensor:
        labels = batch["word_id"].long()
        if bool((labels < 0).any()) or bool((labels >= self.config.word_classes).any()):
            raise ValueError(
                f"DAVS {self.config.stage} stage needs word ids in [0, {self.config.word_classes})"
                f" for every clip; got {labels.tolist()} (build an LRW-style corpus with word "
                "labels, e.g. `avprep build lrw`)"
            )
        return labels

    def _pred_indices(self, length: int) -> torch.Tensor:
        cfg = self.config
        span = (cfg.pred_length - 1) * cfg.pred_stride + 1
        if length < span + cfg.pred_stride - 1:
            raise ValueError(f"DAVS needs clips of >= {cfg.clip_frames} frames, got {length}")
        start = _randint(0, min(cfg.pred_stride - 1, length - span))
        return torch.arange(start, start + span, cfg.pred_stride)

    def _wid(self, batch: dict[str, Any], idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(video frames, MFCC windows, audio wid, video wid) for the classification frames."""
        frames = self._images(batch["frames"][:, idx])  # (B, 12, 3, S, S)
        mfcc = batch["mfcc"][:, idx].float()  # (B, 12, 20, 12)
        audio_emb = self.net("mfcc_encoder")(mfcc)
        lip_emb = self.net("lip_feature_encoder")(frames)
        return frames, mfcc, audio_emb, lip_emb

    def _domain_d_loss(self, audio_emb: torch.Tensor, lip_emb: torch.Tensor) -> torch.Tensor:
        """``backward_dis``: the domain classifier tells audio (real) from video (fake)."""
        d = self.net("discriminator_audio")
        real = L.gan_loss(d(audio_emb.detach()), True)
        fake = L.gan_loss(d(lip_emb.detach()), False)
        return (real + fake) * 0.5

    def _domain_g_loss(self, audio_emb: torch.Tensor, lip_emb: torch.Tensor) -> torch.Tensor:
        """Encoders fool it: audio labelled video, video labelled audio (official)."""
        d = self.modules["discriminator_audio"]
        return L.gan_loss(d(audio_emb), False) + L.gan_loss(d(lip_emb), True)

    def _contrastive(
        self, audio_emb: torch.Tensor, lip_emb: torch.Tensor, both: bool
    ) -> torch.Tensor:
        b = audio_emb.shape[0]
        a = L.l2_normalize(audio_emb.reshape(b, -1))
        v = L.l2_normalize(lip_emb.reshape(b, -1))
        m = self.config.contrastive_margin
        loss = L.l2_contrastive(v.detach(), a, m)
        if both:
            loss = loss + L.l2_contrastive(a.detach(), v, m)
        return loss

    def _step_d(self, loss: torch.Tensor) -> None:
        opt = self.optimizers.get("D")
        if opt is not None:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def _step_g(self, loss: torch.Tensor) -> None:
        opt = self.optimizers["G"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


class DavsJointTrainer(_DavsTrainer):
    """The joint stage (official ``GenModel``)."""

    generator_names = (
        "Decoder",
        "ID_encoder",
        "model_fusion",
        "mfcc_encoder",
        "lip_feature_encoder",
    )
    discriminator_names = ("netD_mul", "discriminator_audio", "ID_lip_discriminator")

    def __init__(self, config: DavsTrainConfig, ctx: TrainContext) -> None:
        if config.single_gan:
            self.discriminator_names = ("netD", *self.discriminator_names)
        if not config.sequence_gan:
            self.discriminator_names = tuple(n for n in self.discriminator_names if n != "netD_mul")
        super().__init__(config, ctx)

    def make_view(self) -> DavsTrainView:
        return DavsTrainView(DavsConfig(seq_len=self.config.clip_frames))

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        cfg, ctx = self.config, self.ctx
        self._train_mode()
        labels = self._word_labels(batch)
        b, length = batch["frames"].shape[:2]
        if length < cfg.clip_frames:
            raise ValueError(f"DAVS joint stage needs clips of >= {cfg.clip_frames} frames")
        pred_idx = self._pred_indices(length)
        dis_start = _randint(0, length - cfg.disfc_length)
        gen_start = _randint(0, cfg.pred_length - cfg.sequence_length)
        gen = slice(gen_start, gen_start + cfg.sequence_length)
        T = cfg.sequence_length

        d_opt = self.optimizers.get("D")
        d_params = [p for g in d_opt.param_groups for p in g["params"]] if d_opt else []
        _set_requires_grad(d_params, True)
        with ctx.autocast():
            real_a = self._images(batch["identity_frame"])
            video_dis = self._images(batch["frames"][:, dis_start : dis_start + cfg.disfc_length])
            id_enc = self.net("ID_encoder")
            id_a = id_enc(real_a)
            seq_id = id_enc(video_dis)[4]  # (B*20, 64, S/4, S/4)
            video, mfcc, audio_emb, lip_emb = self._wid(batch, pred_idx)
            real_videos = video[:, gen]  # (B, 6, 3, S, S)
            audios = mfcc[:, gen]  # (B, 6, 20, 12)
            id_rep = [f.repeat_interleave(T, dim=0) for f in id_a]
            dec = self.net("Decoder")
            s = cfg.image_size
            audio_fakes = dec(id_rep, audio_emb[:, gen].reshape(b * T, -1)).reshape(b, T, 3, s, s)
            image_fakes = dec(id_rep, lip_emb[:, gen].reshape(b * T, -1)).reshape(b, T, 3, s, s)
            fakes_seq = torch.cat([audio_fakes, image_fakes], 0).reshape(2 * b, 3 * T, s, s)
            reals_seq = real_videos.reshape(b, 3 * T, s, s).repeat(2, 1, 1, 1)
            audio_seq = audios.repeat(2, 1, 1, 1)  # (2B, 6, 20, 12)

            # ---- D: domain classifier, word-from-pid classifier, sequence discriminator
            d_dom = self._domain_d_loss(audio_emb, lip_emb)
            word_from_pid = F.cross_entropy(
                self.net("ID_lip_discriminator")(seq_id.detach()).float(), labels
            )
            loss_d = d_dom + word_from_pid * cfg.lambda_word_from_pid
            scalars: dict[str, float] = {}
            for name, fake_in, real_in, audio_in in self._gan_inputs(
                fakes_seq, reals_seq, audio_seq, audio_fakes, image_fakes, real_videos, audios
            ):
                d = self.net(name)
                pf, pf_match = d(fake_in.detach(), audio_in)
                pr, pr_match = d(real_in, audio_in)
                soft = cfg.soft_label
                patch = (L.gan_loss(pf, False, soft) + L.gan_loss(pr, True, soft)) * 0.5
                match = (L.gan_loss(pf_match, False, soft) + L.gan_loss(pr_match, True, soft)) * 0.5
                loss_d = loss_d + patch + match
                scalars[f"{name}_patch"] = _f(patch)
                scalars[f"{name}_match"] = _f(match)
        self._step_d(loss_d)

        # ---- G: everything else, through the updated (frozen for now) discriminators
        _set_requires_grad(d_params, False)
        with ctx.autocast():
            dom_g = self._domain_g_loss(audio_emb, lip_emb)
            fusion = self.net("model_fusion")
            audio_logits = fusion(audio_emb).float()
            image_logits = fusion(lip_emb).float()
            audio_ce = F.cross_entropy(audio_logits, labels)
            image_ce = F.cross_entropy(image_logits, labels)
            pid_logits = self.modules["ID_lip_discriminator"](seq_id)
            uniform = L.uniform_softmax_loss(pid_logits) * cfg.lambda_uniform
            gan_g = torch.zeros((), device=ctx.device)
            for name, fake_in, _, audio_in in self._gan_inputs(
                fakes_seq, reals_seq, audio_seq, audio_fakes, image_fakes, real_videos, audios
            ):
                pf, pf_match = self.modules[name](fake_in, audio_in)
                gan_g = gan_g + L.gan_loss(pf, True) + L.gan_loss(pf_match, True)
            l1_audio = L.reconstruction_l1(
                audio_fakes, real_videos, self.box, cfg.lambda_whole, cfg.lambda_mouth
            )
            l1_image = L.reconstruction_l1(
                image_fakes, real_videos, self.box, cfg.lambda_whole, cfg.lambda_mouth
            )
            temporal = L.temporal_l1(audio_fakes, real_a, self.box)
            contrastive = self._contrastive(audio_emb, lip_emb, both=False)
            loss_g = (
                gan_g + l1_audio + l1_image + temporal * cfg.lambda_temporal + contrastive
                + uniform + audio_ce + image_ce + dom_g * cfg.lambda_domain
            )  # fmt: skip
        self._step_g(loss_g)
        _set_requires_grad(d_params, True)
        scalars.update(
            loss_d=_f(loss_d), loss_g=_f(loss_g), domain_d=_f(d_dom),
            word_from_pid_ce=_f(word_from_pid), domain_g=_f(dom_g),
            audio_ce=_f(audio_ce), image_ce=_f(image_ce), pid_uniform=_f(uniform),
            gan_g=_f(gan_g), l1_audio=_f(l1_audio), l1_image=_f(l1_image),
            temporal=_f(temporal), contrastive=_f(contrastive),
            audio_acc=_accuracy(audio_logits, labels), image_acc=_accuracy(image_logits, labels),
        )  # fmt: skip
        return scalars

    def _gan_inputs(self, fakes_seq, reals_seq, audio_seq, audio_fakes, image_fakes, real_videos,
                    audios):  # type: ignore[no-untyped-def]  # fmt: skip
        """(discriminator, fake input, real input, audio input) for each GAN in use."""
        out = []
        if "netD_mul" in self.modules:
            out.append(("netD_mul", fakes_seq, reals_seq, audio_seq))
        if "netD" in self.modules:
            s = self.config.image_size
            fakes = torch.cat([audio_fakes, image_fakes], 0).reshape(-1, 3, s, s)
            reals = real_videos.reshape(-1, 3, s, s).repeat(2, 1, 1, 1)
            single_audio = audios.reshape(-1, 1, *audios.shape[-2:]).repeat(2, 1, 1, 1)
            out.append(("netD", fakes, reals, single_audio))
        return out

    @torch.no_grad()
    def generate(
        self, batch: dict[str, Any], frames: slice | None = None, from_video: bool = True
    ) -> dict[str, torch.Tensor]:
        """Eval-mode generation for every frame of the batch's clips from audio (and, with
        ``from_video``, from video), for samples and validation. The official test's wid
        scales (audio x1.5, video x0.8) are test-time choices and not applied here."""
        for m in self.modules.values():
            m.eval()
        try:
            with self.ctx.autocast():
                real_a = self._images(batch["identity_frame"])
                video = self._images(
                    batch["frames"] if frames is None else batch["frames"][:, frames]
                )
                mfcc = batch["mfcc"] if frames is None else batch["mfcc"][:, frames]
                b, t = video.shape[:2]
                s = self.config.image_size
                id_rep = [f.repeat_interleave(t, 0) for f in self.modules["ID_encoder"](real_a)]
                a = self.modules["mfcc_encoder"](mfcc.float()).reshape(b * t, -1)
                dec = self.modules["Decoder"]
                out = {"identity": real_a, "truth": video}
                out["audio"] = dec(id_rep, a).reshape(b, t, 3, s, s).float()
                if from_video:
                    v = self.modules["lip_feature_encoder"](video).reshape(b * t, -1)
                    out["video"] = dec(id_rep, v).reshape(b, t, 3, s, s).float()
        finally:
            self._train_mode()
        return out

    def sample(self, batch: dict[str, Any]) -> SampleOutput:
        n = min(4, batch["frames"].shape[0])
        small = {
            k: v[:n] for k, v in batch.items() if k in ("identity_frame", "frames", "mfcc", "audio")
        }
        out = self.generate(small, from_video=False)  # samples show the audio-driven frames
        audio = small.get("audio")
        return SampleOutput(
            identity=_to_uint8(out["identity"]),
            truth=_to_uint8(out["truth"]),
            generated=_to_uint8(out["audio"]),
            audio=None if audio is None else audio.float().cpu().numpy(),
        )

    @torch.no_grad()
    def validate(self, batch: dict[str, Any]) -> dict[str, float]:
        out = self.generate(batch)
        scalars = {
            "l1_from_audio": float((out["audio"] - out["truth"]).abs().mean() * 255),
            "l1_from_video": float((out["video"] - out["truth"]).abs().mean() * 255),
        }
        if bool((batch["word_id"] >= 0).all()):
            scalars.update(_word_accuracy(self, batch))
        return scalars


@torch.no_grad()
def _word_accuracy(trainer: _DavsTrainer, batch: dict[str, Any]) -> dict[str, float]:
    """``GenModel.test``: word accuracy from audio, video and their summed logits on the first
    12 frames at stride 2."""
    cfg = trainer.config
    idx = torch.arange(0, (cfg.pred_length - 1) * cfg.pred_stride + 1, cfg.pred_stride)
    for m in trainer.modules.values():
        m.eval()
    try:
        with trainer.ctx.autocast():
            frames = images01(batch["frames"][:, idx], size=cfg.image_size)
            a = trainer.modules["mfcc_encoder"](batch["mfcc"][:, idx].float())
            v = trainer.modules["lip_feature_encoder"](frames)
            fusion = trainer.modules["model_fusion"]
            la, lv = fusion(a).float(), fusion(v).float()
    finally:
        trainer._train_mode()
    labels = batch["word_id"].long()
    return {
        "audio_acc": _accuracy(la, labels),
        "image_acc": _accuracy(lv, labels),
        "fused_acc": _accuracy(la + lv, labels),
    }


class DavsWordTrainer(_DavsTrainer):
    """Pretraining the wid space (official ``optimize_parameters_no_generation``)."""

    generator_names = ("mfcc_encoder", "lip_feature_encoder", "model_fusion")
    discriminator_names = ("discriminator_audio",)

    def make_view(self) -> DavsTrainView:
        return DavsTrainView(DavsConfig(seq_len=self.config.clip_frames))

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        self._train_mode()
        labels = self._word_labels(batch)
        idx = self._pred_indices(batch["frames"].shape[1])
        with self.ctx.autocast():
            _, _, audio_emb, lip_emb = self._wid(batch, idx)
            d_dom = self._domain_d_loss(audio_emb, lip_emb)
        self._step_d(d_dom)
        with self.ctx.autocast():
            dom_g = self._domain_g_loss(audio_emb, lip_emb)
            fusion = self.net("model_fusion")
            audio_logits = fusion(audio_emb).float()
            image_logits = fusion(lip_emb).float()
            audio_ce = F.cross_entropy(audio_logits, labels)
            image_ce = F.cross_entropy(image_logits, labels)
            contrastive = self._contrastive(audio_emb, lip_emb, both=True)
            loss = audio_ce + image_ce + contrastive + dom_g
        self._step_g(loss)
        return {
            "loss_g": _f(loss), "domain_d": _f(d_dom), "domain_g": _f(dom_g),
            "audio_ce": _f(audio_ce), "image_ce": _f(image_ce),
            "contrastive": _f(contrastive), "audio_acc": _accuracy(audio_logits, labels),
            "image_acc": _accuracy(image_logits, labels),
        }  # fmt: skip

    @torch.no_grad()
    def validate(self, batch: dict[str, Any]) -> dict[str, float]:
        return _word_accuracy(self, batch)


class DavsIdentityTrainer(_DavsTrainer):
    """Pretraining the pid encoder as a person classifier (``Face_ID_fc`` head)."""

    generator_names = ("ID_encoder", "Face_ID_fc")
    discriminator_names = ()

    def _person_classes(self) -> int:
        n = self.config.person_classes
        if n < 1:
            n = person_classes_from_builds(self.ctx.data)
        if n < 1:
            raise ValueError(
                "DAVS identity stage: no person ids found; give person_classes or --data "
                "identity-face builds (`avprep build identity`)"
            )
        self.config.person_classes = n
        return n

    def make_view(self) -> DavsIdentityView:
        return DavsIdentityView(DavsIdentityConfig())

    def _logits(self, batch: dict[str, Any], enc: nn.Module, head: nn.Module) -> tuple:
        labels = batch["person_id"].long()
        if bool((labels < 0).any()) or bool((labels >= self.config.person_classes).any()):
            raise ValueError(
                f"person ids must lie in [0, {self.config.person_classes}); got {labels.tolist()}"
            )
        with self.ctx.autocast():
            logits = head(enc(self._images(batch["image"]))[0]).float()
        return logits, labels

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        self._train_mode()
        logits, labels = self._logits(batch, self.net("ID_encoder"), self.net("Face_ID_fc"))
        loss = F.cross_entropy(logits, labels)
        self._step_g(loss)
        return {"person_ce": _f(loss), "person_acc": _accuracy(logits, labels)}

    @torch.no_grad()
    def validate(self, batch: dict[str, Any]) -> dict[str, float]:
        for m in self.modules.values():
            m.eval()
        try:
            logits, labels = self._logits(
                batch, self.modules["ID_encoder"], self.modules["Face_ID_fc"]
            )
        finally:
            self._train_mode()
        return {
            "person_ce": float(F.cross_entropy(logits, labels)),
            "person_acc": _accuracy(logits, labels),
        }

    def extra_state(self) -> dict[str, Any]:
        return {"person_classes": self.config.person_classes}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        saved = int(state.get("person_classes", self.config.person_classes))
        if saved != self.config.person_classes:
            raise ValueError(
                f"the checkpoint's person classifier has {saved} classes, the data gives "
                f"{self.config.person_classes}: set person_classes={saved} to resume"
            )
