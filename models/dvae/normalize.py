"""Per-bin normalisation of DVAE's log-spectrogram (FHVAE normalises its inputs with the
training set's mean and standard deviation per bin).

The statistics are computed once over the training split(s) of the run's builds, stored with
the run (the trainer's ``extra_state``) and reused unchanged by stage 2 and at inference, so
a spectrogram is always scaled the way the VAE was trained on it. Torch-free (numpy)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class SpectrogramStats:
    """Mean and std per frequency bin, (n_bins,) float32 each."""

    mean: np.ndarray
    std: np.ndarray
    n_steps: int = 0  # spectrogram steps the statistics summarise

    def normalize(self, x: Any) -> Any:
        """``(x - mean) / std`` over the last axis (numpy array or torch tensor)."""
        if isinstance(x, np.ndarray):
            return (x - self.mean) / self.std
        mean = x.new_tensor(self.mean)
        std = x.new_tensor(self.std)
        return (x - mean) / std

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "n_steps": self.n_steps}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SpectrogramStats:
        return cls(
            np.asarray(state["mean"], dtype=np.float32),
            np.asarray(state["std"], dtype=np.float32),
            int(state.get("n_steps", 0)),
        )


class RunningStats:
    """Sums in float64 so millions of steps add up without drift."""

    def __init__(self) -> None:
        self.n = 0
        self.total: np.ndarray | None = None
        self.total_sq: np.ndarray | None = None

    def add(self, track: np.ndarray) -> None:
        t = np.asarray(track, dtype=np.float64)
        if t.ndim != 2:
            raise ValueError(f"expected a (steps, bins) track, got shape {t.shape}")
        if self.total is None:
            self.total = np.zeros(t.shape[1])
            self.total_sq = np.zeros(t.shape[1])
        elif t.shape[1] != self.total.shape[0]:
            raise ValueError(f"track has {t.shape[1]} bins, earlier tracks {self.total.shape[0]}")
        self.n += t.shape[0]
        self.total += t.sum(axis=0)
        self.total_sq += (t * t).sum(axis=0)  # type: ignore[operator]

    def result(self, min_std: float = 1e-5) -> SpectrogramStats:
        if self.n == 0 or self.total is None:
            raise ValueError("no spectrogram steps to compute normalisation statistics from")
        mean = self.total / self.n
        var = np.maximum(self.total_sq / self.n - mean**2, 0.0)  # type: ignore[operator]
        std = np.maximum(np.sqrt(var), min_std)
        return SpectrogramStats(mean.astype(np.float32), std.astype(np.float32), self.n)


def stats_from_tracks(tracks: Iterable[np.ndarray]) -> SpectrogramStats:
    acc = RunningStats()
    for t in tracks:
        acc.add(t)
    return acc.result()


def training_stats(
    sources: Sequence[str],
    splits: Sequence[str] | None,
    track: str = "logspec_dvae",
    max_clips: int | None = None,
) -> SpectrogramStats:
    """Statistics of the (clean) ``track`` over the clips of ``splits`` (default ``train``)
    of every build in ``sources``; ``max_clips`` caps the clips read (in shard order)."""
    from avprep.reader import iter_samples

    acc = RunningStats()
    n = 0
    for source in sources:
        for sample in iter_samples(source, splits=tuple(splits or ("train",)), kinds=("clip",)):
            if max_clips is not None and n >= max_clips:
                break
            acc.add(sample.array(track))
            n += 1
    if acc.n == 0:
        raise ValueError(
            f"no {track} track found in the {', '.join(splits or ('train',))} split of "
            f"{', '.join(sources)}: build with --features {track}"
        )
    return acc.result()
