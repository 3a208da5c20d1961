"""DAVS inference as the official test does it (``test_all.py``, ``Test_Gen_Models/``).

For each identity photo the official test reloads the checkpoint, then fine-tunes the
identity encoder and the decoder for 5 steps on that photo alone (``test_train``): the
photo is reconstructed from its own pid feature and the wid feature of one input window
(audio: the i-th MFCC window; video: the photo's own video wid feature), with an L1 loss
(x lambda_A = 4) that weights the mouth box 0.001 and everything else 1, and a fresh Adam
(lr 2e-4, beta1 0.9) every step (``set_test_input`` builds a new optimiser per batch; kept, so
each step is Adam's first, sign-like update, as in the released results). During these steps
the two networks are in training mode (their BatchNorm statistics adapt to the photo), the
audio encoder in eval mode. (Official quirk not copied: ``test_all.py`` reuses one model for
its four identities and only ever switches it to eval, so identities 2-4 are fine-tuned in
eval mode; here every identity gets the first identity's procedure. The video path's
``lip_feature_encoder`` is never switched to eval there; here it runs in eval mode, without
gradients, since it is not being tuned.) Then every frame is decoded in eval mode from the
photo's pid feature and the window's wid feature scaled by 1.5 (audio) or 0.8 (video).

:func:`generate` is what ``avprep generate`` calls: a 256x256 face crop (aligned to the DAVS
template by avprep's face stage) and the per-frame MFCC windows of the speech (the
``mfcc_davs`` track cut by :func:`avprep.features.windows.frame_windows`) in, frames out.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from models.davs import losses as L
from models.davs.checkpoint import GENERATION_MODULES, load_modules, module_states, read_checkpoint
from models.davs.config import DavsInferenceConfig, DavsTrainConfig
from models.davs.geometry import mouth_box
from models.davs.trainer import images01, make_network
from models.davs.view import time_major_mfcc


def load_generator(
    checkpoint: Mapping[str, Any] | str | os.PathLike, width: float = 1.0, image_size: int = 256,
    device: torch.device | str = "cpu",
) -> dict[str, nn.Module]:  # fmt: skip
    """The four generation networks (official names) loaded strictly from an official or an
    avprep checkpoint."""
    if not isinstance(checkpoint, Mapping):
        checkpoint = read_checkpoint(checkpoint)
    cfg = DavsTrainConfig(width=width, image_size=image_size)
    modules = {name: make_network(name, cfg) for name in GENERATION_MODULES}
    load_modules({"modules": module_states(checkpoint)}, modules, required=GENERATION_MODULES)
    return {k: m.to(device).eval() for k, m in modules.items()}


def _face_tensor(
    face: np.ndarray | torch.Tensor, image_size: int, device: torch.device
) -> torch.Tensor:
    face_t = torch.as_tensor(np.asarray(face)) if not isinstance(face, torch.Tensor) else face
    if face_t.shape != (image_size, image_size, 3):
        raise ValueError(
            f"face must be a ({image_size}, {image_size}, 3) uint8 crop, got {tuple(face_t.shape)}"
        )
    return images01(face_t.to(device)).unsqueeze(0)


def generate(
    face: np.ndarray,
    mfcc: np.ndarray | None,
    generator: Mapping[str, nn.Module],
    config: DavsInferenceConfig | None = None,
    frames: np.ndarray | None = None,
) -> np.ndarray:
    """Talking-face frames for one identity: ``face`` (S, S, 3) uint8 and either ``mfcc``
    windows (N, 20, 12) or (N, 12, 20) (audio-driven) or ``frames`` (N, S, S, 3) uint8
    (video-driven). Returns (N, S, S, 3) uint8. ``generator`` is left unchanged (the
    fine-tuning runs on copies, as the official test reloads the checkpoint per identity)."""
    cfg = config or DavsInferenceConfig()
    if (mfcc is None) == (frames is None):
        raise ValueError("give exactly one of mfcc (audio-driven) or frames (video-driven)")
    nets = {k: copy.deepcopy(m) for k, m in generator.items()}
    id_enc, dec = nets["ID_encoder"], nets["Decoder"]
    device = next(dec.parameters()).device
    size = dec.image_size
    real_a = _face_tensor(face, size, device)
    box = mouth_box(size)
    if mfcc is not None:
        windows = torch.as_tensor(
            time_major_mfcc(np.asarray(mfcc, dtype=np.float32)), device=device
        )
        if windows.dim() != 3 or len(windows) == 0:
            raise ValueError(f"mfcc must be (N, 20, 12) windows, got {tuple(windows.shape)}")
        count, scale = len(windows), cfg.audio_scale
    else:
        video = torch.as_tensor(np.asarray(frames), device=device)
        if video.dim() != 4 or len(video) == 0:
            raise ValueError(
                f"frames must be (N, {size}, {size}, 3) uint8, got {tuple(video.shape)}"
            )
        count, scale = len(video), cfg.video_scale

    # -- test_train: fine-tune ID_encoder + Decoder on the identity photo
    audio_enc, lip_enc = nets["mfcc_encoder"].eval(), nets["lip_feature_encoder"]
    for step in range(min(cfg.finetune_steps, count)):
        id_enc.train()
        dec.train()
        with torch.no_grad():
            if mfcc is not None:
                wid = audio_enc(windows[step : step + 1].unsqueeze(0)).reshape(1, -1)
            else:  # official video test: the photo's own video wid feature
                lip_enc.eval()
                wid = lip_enc(real_a.unsqueeze(1)).reshape(1, -1)
        params = list(id_enc.parameters()) + list(dec.parameters())
        opt = torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, 0.999))
        fake = dec(id_enc(real_a), wid)
        loss = L.finetune_l1(fake, real_a, box, cfg.finetune_mouth_weight, cfg.lambda_whole)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    # -- test: decode every window in eval mode
    for m in nets.values():
        m.eval()
    out = []
    with torch.no_grad():
        pid = id_enc(real_a)
        for start in range(0, count, cfg.batch_frames):
            stop = min(count, start + cfg.batch_frames)
            if mfcc is not None:
                wid = audio_enc(windows[start:stop].unsqueeze(0)).reshape(stop - start, -1)
            else:
                wid = lip_enc(images01(video[start:stop]).unsqueeze(0)).reshape(stop - start, -1)
            rep = [f.expand(stop - start, *f.shape[1:]) for f in pid]
            out.append(dec(rep, wid * scale))
    gen = torch.cat(out).clamp(0, 1).mul(255).round().to(torch.uint8)
    return gen.movedim(1, -1).cpu().numpy()
