"""A trained DAVS model's outputs on every clip of a build split, as the files ``avprep eval
lipreading | retrieval | word-info`` read (DAVS Table 3 and Sec. 4.2).

What is computed follows the official test (``Gen_final_v1.GenModel.test`` and
``save_feature``), with every network in eval mode (BatchNorm running statistics):

- word-id features: ``pred_length`` (12) frames every ``pred_stride`` (2) from the clip's
  first usable frame (the official test draws the start from {0, 1}; here 0, so two exports
  agree), through ``lip_feature_encoder`` (video) and ``mfcc_encoder`` (their MFCC windows);
- ``logits.npz``: ``model_fusion`` (the shared classifier C_w) on each: ``video_logits``,
  ``audio_logits``, and ``combined_logits`` = their sum (the official ``self.output =
  audio_pred + image_pred`` behind its fused accuracy); ``labels`` = the LRW word ids;
- ``embeddings.npz``: the sequence-level word-id features, the 12 frames' features
  concatenated (12 x 256) and L2-normalised (the official ``l2_norm(...view(-1, 256 *
  pred_length))`` that the contrastive loss and retrieval compare); row i of ``audio`` and
  ``video`` is the same clip;
- ``features.npz``: the identity encoder's pid features (``ID_encoder(...)[0]``) of
  ``disfc_length`` (20) consecutive frames from the first usable one, concatenated per clip
  (the official ``save_feature``: ``view(-1, disfc_length * 256)``; the start there is
  random in 0..4), with ``words``: the SVM of Sec. 4.2 classifies F_p^v to the word. An
  ``identity``-stage checkpoint (the pid encoder before the joint, adversarial stage) gives
  the "before disentanglement" features, a ``joint`` one the "after".

Clips come from :class:`~models.davs.view.DavsTrainView` with the evaluation settings (the
centre 256 crop, no flip, the first usable window; clips without a word id are skipped) and
are downsampled to the network's ``image_size`` as in training. Rows are sorted by sample key
(every file has ``keys``), so the output does not depend on ``--workers``. Results are kept
per batch as float32 numpy arrays (about 10 kB per clip at full width for all three files).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from models.davs.checkpoint import load_modules, module_states, read_checkpoint
from models.davs.config import DavsTrainConfig
from models.davs.losses import l2_normalize
from models.davs.trainer import images01, make_network
from models.davs.view import DavsConfig, DavsTrainView

WORD_NETWORKS = ("mfcc_encoder", "lip_feature_encoder")
EXPORT_NETWORKS = (*WORD_NETWORKS, "model_fusion", "ID_encoder")
FILES = {
    "logits": "logits.npz",
    "embeddings": "embeddings.npz",
    "features": "features.npz",
}


class DavsExportError(ValueError):
    """A checkpoint or build that cannot give the export (the message says why)."""


@dataclass
class ExportResult:
    out: Path
    written: dict[str, Path]  # kind ("logits", ...) -> file
    clips: int
    networks: tuple[str, ...]
    not_written: dict[str, str] = field(default_factory=dict)  # kind -> why
    skipped: dict[str, int] = field(default_factory=dict)  # view skip reasons (workers=0)


def load_davs_networks(
    checkpoint: str | os.PathLike,
) -> tuple[dict[str, nn.Module], DavsTrainConfig, dict[str, Any]]:
    """The export's networks that ``checkpoint`` (an ``avprep train davs`` checkpoint, its
    run folder, or the official release) holds, built at the run's width and image size and
    loaded strictly; returns (networks, config, description)."""
    from models.generate import checkpoint_method, run_method_config
    from models.training.checkpoint import resolve_checkpoint

    name = os.fspath(checkpoint)
    if not os.path.exists(name):
        raise DavsExportError(
            f"DAVS checkpoint {name!r} not found (a checkpoint of `avprep train davs`, its run "
            "folder, or the official 101_DAVS_checkpoint.pth.tar)"
        )
    try:
        path = resolve_checkpoint(name)
        state = read_checkpoint(path)
    except Exception as e:  # no checkpoint in the folder; pickle/zip errors: not a checkpoint
        raise DavsExportError(f"cannot read DAVS checkpoint {name!r}: {e}") from e
    if not isinstance(state, dict):
        raise DavsExportError(f"{name!r} is not a DAVS checkpoint")
    method, stage = checkpoint_method(state)
    if method is not None and method != "davs":
        raise DavsExportError(
            f"{name!r} is a {method} checkpoint (stage {stage}), not DAVS: the export runs "
            "DAVS's word-id encoders, classifier and identity encoder"
        )
    # an avprep run records its config (width, image size, frames); the official file is
    # full size with the official options
    cfg = run_method_config(state, "davs", name) if method == "davs" else DavsTrainConfig()
    states = module_states(state)
    present = [n for n in EXPORT_NETWORKS if n in states]
    if not present:
        raise DavsExportError(
            f"{name!r} holds none of DAVS's {', '.join(EXPORT_NETWORKS)} (has: "
            f"{', '.join(sorted(states)) or 'no network states'})"
        )
    nets = {n: make_network(n, cfg) for n in present}
    try:
        load_modules({"modules": states}, nets, required=present)
    except ValueError as e:  # CheckpointError: a network that does not fit the config
        raise DavsExportError(f"{name!r}: {e}") from e
    for m in nets.values():
        m.eval()
    info = {"checkpoint": str(path), "method": method or "davs (official file)", "stage": stage}
    return nets, cfg, info


def export_view(cfg: DavsTrainConfig) -> DavsTrainView:
    """Evaluation clips: centre crop, no flip, the first usable window, word clips only."""
    view_cfg = DavsConfig(seq_len=cfg.clip_frames, random_start=False, augment=False)
    return DavsTrainView(view_cfg, with_audio=False, require_word=True)


def _word_frames(cfg: DavsTrainConfig) -> torch.Tensor:
    return torch.arange(0, (cfg.pred_length - 1) * cfg.pred_stride + 1, cfg.pred_stride)


@torch.inference_mode()
def forward_clips(
    nets: dict[str, nn.Module], cfg: DavsTrainConfig, batch: dict[str, Any]
) -> dict[str, torch.Tensor]:
    """The export's per-clip outputs for one batch of :func:`export_view` items (on the
    networks' device): whichever of logits, embeddings and pid features the networks give."""
    out: dict[str, torch.Tensor] = {}
    frames = batch["frames"]
    b = frames.shape[0]
    if all(n in nets for n in WORD_NETWORKS):
        idx = _word_frames(cfg).to(frames.device)
        video = images01(frames[:, idx], size=cfg.image_size)
        a = nets["mfcc_encoder"](batch["mfcc"][:, idx].float())  # (B, 12, F)
        v = nets["lip_feature_encoder"](video)
        out["audio"] = l2_normalize(a.reshape(b, -1).float())
        out["video"] = l2_normalize(v.reshape(b, -1).float())
        if "model_fusion" in nets:
            fusion = nets["model_fusion"]
            out["audio_logits"] = fusion(a).float()
            out["video_logits"] = fusion(v).float()
            out["combined_logits"] = out["audio_logits"] + out["video_logits"]
    if "ID_encoder" in nets:
        seq = images01(frames[:, : cfg.disfc_length], size=cfg.image_size)
        pid = nets["ID_encoder"](seq)[0]  # (B * 20, F)
        out["features"] = pid.reshape(b, -1).float()
    return out


def _check_data(data: str, split: str) -> None:
    from models.training.builds import BuildCheckError, check_builds

    try:
        problems = check_builds("davs", "word", [data], [split])
    except BuildCheckError as e:
        raise DavsExportError(str(e)) from None
    if problems:
        raise DavsExportError(
            f"{data} cannot feed the DAVS export (split {split}):\n  " + "\n  ".join(problems)
        )


def _split_total(data: str, split: str) -> int | None:
    from models.training.builds import read_build_info, split_counts

    info = read_build_info(data)
    return split_counts(info).get(split) if info else None


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write through a temporary file, so a file of that name is always whole."""
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def export_davs_features(
    checkpoint: str | os.PathLike,
    data: str,
    out: str | os.PathLike,
    split: str = "test",
    batch_size: int = 16,
    device: str = "auto",
    workers: int = 0,
    progress: bool = True,
) -> ExportResult:
    """Run a trained DAVS model over every word clip of ``data``'s ``split`` and write
    ``logits.npz``, ``embeddings.npz`` and ``features.npz`` (those its networks allow) and
    ``export.json`` (what was run) into ``out``."""
    from tqdm import tqdm

    from avprep.reader import ShardSourceError
    from models.data import make_loader, to_device
    from models.eval.runner import resolve_device

    if batch_size < 1:
        raise DavsExportError(f"batch size must be >= 1, not {batch_size}")
    nets, cfg, info = load_davs_networks(checkpoint)
    _check_data(data, split)
    dev = torch.device(resolve_device(device))
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DavsExportError(f"--device {device}: CUDA is not available on this machine")
    nets = {k: m.to(dev) for k, m in nets.items()}
    view = export_view(cfg)
    try:
        loader = make_loader(
            [data], view, batch_size, num_workers=workers, splits=(split,), shuffle=False,
            seed=0, rank=0, world_size=1, pin_memory=dev.type == "cuda",
        )  # fmt: skip
    except ShardSourceError as e:
        raise DavsExportError(str(e)) from None

    keys: list[str] = []
    labels: list[np.ndarray] = []
    parts: dict[str, list[np.ndarray]] = {}
    total = _split_total(data, split)
    with tqdm(total=total, disable=not progress, desc="clips", unit="clip") as bar:
        for batch in loader:
            keys += list(batch["key"])
            labels.append(batch["word_id"].numpy().astype(np.int64))
            outputs = forward_clips(nets, cfg, to_device(batch, dev))
            for k, v in outputs.items():
                parts.setdefault(k, []).append(v.cpu().numpy().astype(np.float32))
            bar.update(len(batch["key"]))
    skipped = dict(view.skipped) if workers == 0 else {}
    if not keys:
        why = f" (skipped: {', '.join(f'{k} {v}' for k, v in sorted(skipped.items()))})"
        raise DavsExportError(
            f"no clip of split {split!r} in {data} can be exported{why if skipped else ''}: "
            f"the export needs word-labelled clips (LRW word ids, e.g. `avprep build lrw`) "
            f"with {cfg.clip_frames} usable frames"
        )
    order = np.argsort(np.asarray(keys), kind="stable")
    key_arr = np.asarray(keys)[order]
    words = np.concatenate(labels)[order]
    cat = {k: np.concatenate(v)[order] for k, v in parts.items()}
    too_big = words.max() >= cfg.word_classes if "audio_logits" in cat else False
    if too_big:
        raise DavsExportError(
            f"word ids up to {int(words.max())} but the classifier has {cfg.word_classes} classes"
        )

    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    not_written: dict[str, str] = {}
    if "audio_logits" in cat:
        written["logits"] = dest / FILES["logits"]
        _save_npz(written["logits"], {
            "labels": words, "video_logits": cat["video_logits"],
            "audio_logits": cat["audio_logits"], "combined_logits": cat["combined_logits"],
            "keys": key_arr,
        })  # fmt: skip
    else:
        not_written["logits"] = _missing(nets, (*WORD_NETWORKS, "model_fusion"))
    if "audio" in cat:
        written["embeddings"] = dest / FILES["embeddings"]
        _save_npz(written["embeddings"], {
            "audio": cat["audio"], "video": cat["video"], "labels": words, "keys": key_arr,
        })  # fmt: skip
    else:
        not_written["embeddings"] = _missing(nets, WORD_NETWORKS)
    if "features" in cat:
        written["features"] = dest / FILES["features"]
        _save_npz(written["features"], {"features": cat["features"], "words": words,
                                        "keys": key_arr})  # fmt: skip
    else:
        not_written["features"] = _missing(nets, ("ID_encoder",))
    result = ExportResult(dest, written, len(keys), tuple(nets), not_written, skipped)
    _write_description(result, info, cfg, data, split)
    return result


def _missing(nets: dict[str, nn.Module], needed: Iterable[str]) -> str:
    return "the checkpoint has no " + ", ".join(n for n in needed if n not in nets)


def _write_description(
    result: ExportResult, info: dict[str, Any], cfg: DavsTrainConfig, data: str, split: str
) -> None:
    description = {
        **info,
        "data": str(data),
        "split": split,
        "clips": result.clips,
        "networks": list(result.networks),
        "files": {k: p.name for k, p in result.written.items()},
        "not_written": result.not_written,
        "skipped": result.skipped,
        "settings": {
            "width": cfg.width,
            "image_size": cfg.image_size,
            "word_frames": _word_frames(cfg).tolist(),
            "pid_frames": cfg.disfc_length,
            "combined_logits": "audio_logits + video_logits (official GenModel.test)",
            "embeddings": "word-id features of the word frames, concatenated, L2-normalised",
            "features": "ID_encoder pid features of the pid frames, concatenated",
        },
    }
    (result.out / "export.json").write_text(json.dumps(description, indent=2) + "\n")
