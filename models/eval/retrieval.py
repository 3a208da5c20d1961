"""Audio-to-video and video-to-audio retrieval (DAVS Table 3, protocol of VSE++, Faghri et
al. 2017): every query's true partner is the sample with the same index; candidates are all
N samples of the other modality, ranked by the Euclidean distance of L2-normalised
embeddings (the same order as cosine similarity).

R@K is the percentage of queries whose partner ranks within the first K; Med R is the median
rank, 1-based (VSE++: ``floor(median(ranks)) + 1`` over 0-based ranks). Ties are counted
against the query (a candidate exactly as close as the partner ranks before it), so
collapsed embeddings score as badly as they deserve.

The N x N distances are never held at once: queries go in chunks (default 2048 rows, ~200 MB
in float32 for N = 25,000), so DAVS's 1:25,000 test fits on one GPU, or on CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

CHUNK = 2048


def _tensor(x: Any, device: torch.device | str | None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.to(device=device if device is not None else t.device, dtype=torch.float32)


def retrieval_ranks(
    queries: Any, candidates: Any, chunk: int = CHUNK, device: torch.device | str | None = None
) -> np.ndarray:
    """0-based rank of candidate i among all candidates for query i, (N,) int64."""
    q = torch.nn.functional.normalize(_tensor(queries, device), dim=1)
    c = torch.nn.functional.normalize(_tensor(candidates, device), dim=1)
    if q.dim() != 2 or q.shape != c.shape:
        raise ValueError(f"need two (N, D) embedding sets of one shape, got {q.shape}, {c.shape}")
    n = len(q)
    ranks = torch.empty(n, dtype=torch.int64)
    for s in range(0, n, chunk):
        e = min(s + chunk, n)
        sim = q[s:e] @ c.T  # (chunk, N); larger = closer
        rows = torch.arange(e - s, device=sim.device)
        true = sim[rows, torch.arange(s, e, device=sim.device)]
        ranks[s:e] = ((sim >= true[:, None]).sum(1) - 1).cpu()  # ties before the partner
    return ranks.numpy()


def rank_summary(ranks: np.ndarray) -> dict[str, float]:
    """R@1, R@10 (percent) and Med R (1-based) of 0-based ranks."""
    r = np.asarray(ranks)
    return {
        "r1": float(100.0 * (r < 1).mean()),
        "r10": float(100.0 * (r < 10).mean()),
        "medr": float(np.floor(np.median(r)) + 1),
    }


def retrieval_metrics(
    audio_embeddings: Any,
    video_embeddings: Any,
    chunk: int = CHUNK,
    device: torch.device | str | None = None,
) -> dict[str, Any]:
    """Video->audio and audio->video R@1, R@10, Med R; row i of each set is one clip."""
    v2a = rank_summary(retrieval_ranks(video_embeddings, audio_embeddings, chunk, device))
    a2v = rank_summary(retrieval_ranks(audio_embeddings, video_embeddings, chunk, device))
    out: dict[str, Any] = {f"v2a_{k}": v for k, v in v2a.items()}
    out.update({f"a2v_{k}": v for k, v in a2v.items()})
    out["samples"] = int(len(audio_embeddings))
    return out
