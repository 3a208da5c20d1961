"""Word-level audio-visual speech recognition accuracy (DAVS Table 3: visual, audio and
combined top-1 over LRW's 500 words).

The trainer's classifiers give logits; these functions only score them. The paper does not
say how its "combined" accuracy fuses the two streams; the official code
(``Gen_final_v1.GenModel.test``) sums the shared classifier's audio and video logits, which
is what ``avprep eval davs-features`` writes as ``combined_logits``. Pass a model's own
combined logits when it has them; otherwise :func:`lip_reading_accuracy` fuses by averaging
the two streams' softmax probabilities (late fusion) and says so in its result
(``combined_from``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, any device
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def top1_accuracy(logits: Any, labels: Any) -> float:
    """Fraction of rows whose highest logit is the label: (N, C) logits, (N,) int labels."""
    scores, y = _as_numpy(logits), _as_numpy(labels).astype(np.int64)
    if scores.ndim != 2 or y.shape != (scores.shape[0],):
        raise ValueError(f"need (N, C) logits and (N,) labels, got {scores.shape}, {y.shape}")
    if len(y) == 0:
        raise ValueError("no samples")
    if y.min() < 0 or y.max() >= scores.shape[1]:
        raise ValueError(f"labels outside 0..{scores.shape[1] - 1}")
    return float((scores.argmax(1) == y).mean())


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64) - x.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def lip_reading_accuracy(
    labels: Any,
    video_logits: Any = None,
    audio_logits: Any = None,
    combined_logits: Any = None,
) -> dict[str, Any]:
    """Top-1 accuracy from video (lip reading), audio, and both; only the streams given."""
    out: dict[str, Any] = {}
    if video_logits is not None:
        out["visual_acc"] = top1_accuracy(video_logits, labels)
    if audio_logits is not None:
        out["audio_acc"] = top1_accuracy(audio_logits, labels)
    if combined_logits is not None:
        out["combined_acc"] = top1_accuracy(combined_logits, labels)
        out["combined_from"] = "model"
    elif video_logits is not None and audio_logits is not None:
        probs = (_softmax(_as_numpy(video_logits)) + _softmax(_as_numpy(audio_logits))) / 2
        out["combined_acc"] = top1_accuracy(probs, labels)
        out["combined_from"] = "mean of softmax probabilities"
    if not out:
        raise ValueError("give at least one of video_logits, audio_logits, combined_logits")
    out["samples"] = len(_as_numpy(labels))
    return out
