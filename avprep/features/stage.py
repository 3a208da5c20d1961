"""The audio-features stage of ``avprep build``: continuous tracks + per-frame validity.

For each configured feature it writes ``work.arrays[name]`` (float32 ``(T, D)`` track at
100 Hz), ``work.arrays[name + "_valid"]`` (bool, one per video frame: does the frame's window
under the config's convention lie on real audio, see :mod:`avprep.features.windows`), and for
each noise level ``work.arrays[noise_track_name(name, level)]`` (same geometry and validity
as the clean track). ``work.meta["audio_features"]`` describes every track: config, shape,
timing, window convention, the audio span a frame's window covers, and validity counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from avprep.clips import ClipRejected, ClipWork
from avprep.features.config import FeatureConfig, config_to_dict, get_feature_config
from avprep.features.noise import add_white_noise, noise_level_tag, noise_track_name
from avprep.features.tracks import compute_track, track_timing
from avprep.features.windows import describe_span, window_validity
from avprep.pcm import quantize_pcm16
from avprep.stages import Stage, package_version

DEFAULT_FEATURES: tuple[str, ...] = ("mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae")
FEATURES_VERSION = "1"


@dataclass
class AudioFeatureStage(Stage):
    """Compute feature tracks (and noisy copies) from ``work.media.audio``.

    ``features``: names from the registry or ``extra_configs`` (what
    :func:`~avprep.features.config.load_feature_configs` returns). ``noise_levels_db``: white
    noise levels relative to the clip's power (DVAE: -60, -30, -10); the noisy tracks are
    computed for ``noise_features`` (default: all ``features``). ``seed`` makes the noise
    deterministic per (clip key, seed).

    Rejects a clip (``audio_too_short``) only when its audio is shorter than the longest
    analysis window, i.e. some track would have no step at all; frames whose window does not
    fit are recorded in the ``_valid`` masks instead.
    """

    features: tuple[str, ...] = DEFAULT_FEATURES
    noise_levels_db: tuple[float, ...] = ()
    seed: int = 0
    extra_configs: dict[str, FeatureConfig] | None = None
    noise_features: tuple[str, ...] | None = None
    name: str = "audio_features"

    def __post_init__(self) -> None:
        self.features = tuple(self.features)
        self.noise_levels_db = tuple(float(x) for x in self.noise_levels_db)
        if len(set(self.features)) != len(self.features):
            raise ValueError(f"duplicate feature names in {self.features}")
        tags = [noise_level_tag(x) for x in self.noise_levels_db]
        if len(set(tags)) != len(tags):
            raise ValueError(f"duplicate noise levels in {self.noise_levels_db}")
        self._configs = [get_feature_config(n, self.extra_configs) for n in self.features]
        noisy = self.features if self.noise_features is None else tuple(self.noise_features)
        unknown = set(noisy) - set(self.features)
        if unknown:
            raise ValueError(f"noise_features {sorted(unknown)} are not among the features")
        self._noisy = noisy

    def setup(self) -> None:
        """Warm the filterbank caches (cheap; nothing to download)."""
        silence = np.zeros(16000, dtype=np.float32)
        for config in self._configs:
            compute_track(silence[: max(config.sample_rate // 10, 1024)], config)

    def preflight(self) -> None:
        """Nothing to check (no model files): the driver leaves the warm-up to the workers."""

    def versions(self) -> dict[str, str]:
        return {
            "avprep.features": FEATURES_VERSION,
            "numpy": np.__version__,
            "scipy": package_version("scipy"),
            "librosa": package_version("librosa"),
            "python_speech_features": package_version("python_speech_features"),
        }

    def process(self, work: ClipWork) -> None:
        media = work.media
        if media is None or media.audio is None:
            raise ClipRejected("no_audio", "audio features need decoded audio")
        # the samples the shard's 16-bit FLAC stores (a no-op after ClipProcessor's
        # quantisation), so every track is recomputable from the stored audio
        audio = np.asarray(media.audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ClipRejected("bad_audio", f"expected mono audio, got shape {audio.shape}")
        if not np.all(np.isfinite(audio)):
            raise ClipRejected("bad_audio", "audio contains NaN or infinite samples")
        audio = quantize_pcm16(audio)
        media.audio = audio  # downstream stages and the FLAC writer see the same samples
        for config in self._configs:
            if config.sample_rate != media.sample_rate:
                raise ClipRejected(
                    "bad_sample_rate",
                    f"{config.name} needs {config.sample_rate} Hz audio, got {media.sample_rate}",
                )
        longest = max(track_timing(c).win_length for c in self._configs)
        if audio.shape[0] < longest:
            raise ClipRejected(
                "audio_too_short",
                f"{audio.shape[0]} samples < one {longest}-sample analysis window",
            )

        n_frames, fps = media.n_frames, float(media.fps)
        described: dict[str, Any] = {}
        for config in self._configs:
            track = compute_track(audio, config)
            timing = track_timing(config)
            usable = timing.usable_steps(audio.shape[0], track.shape[0])
            valid, starts, n_padded = window_validity(n_frames, fps, config.window, timing, usable)
            valid_key = f"{config.name}_valid"
            if media.audio_extent is not None:  # frames over silence padded in: invalid
                usable = timing.steps_within(*media.audio_extent, track.shape[0])
                valid, starts, n_padded = window_validity(
                    n_frames, fps, config.window, timing, usable
                )
            work.arrays[config.name] = track
            work.arrays[valid_key] = valid
            described[config.name] = {
                "feature": config.name,
                "kind": config.kind,
                "noise_db": None,
                "shape": [int(track.shape[0]), int(track.shape[1])],
                "dtype": "float32",
                "timing": timing.as_dict(),
                "usable_steps": [int(usable[0]), int(usable[1])],
                "valid_key": valid_key,
                "n_frames": int(n_frames),
                "n_valid": int(valid.sum()),
                "n_padded_frames": int(np.count_nonzero(n_padded[valid])),
                "window": describe_span(fps, config.window, timing),
                "config": config_to_dict(config),
            }

        for level in self.noise_levels_db:
            noisy_audio = add_white_noise(audio, level, work.ref.key, self.seed)
            for config in self._configs:
                if config.name not in self._noisy:
                    continue
                name = noise_track_name(config.name, level)
                work.arrays[name] = compute_track(noisy_audio, config)
                entry = dict(described[config.name])
                entry.update(
                    feature=name,
                    source_feature=config.name,
                    noise_db=level,
                    noise_seed=int(self.seed),
                    noise="uniform white noise, power relative to the clip's mean power",
                )
                described[name] = entry

        work.meta["audio_features"] = described
