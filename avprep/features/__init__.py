"""Audio features as DAVS, SyncNet, CRAN and DVAE compute them, with per-frame windows.

- :mod:`~avprep.features.config`: named configs (``mfcc_davs``, ``mfcc_syncnet``,
  ``mfcc_cran``, ``logspec_dvae``), the registry, JSON loading of user configs;
- :mod:`~avprep.features.mfcc`, :mod:`~avprep.features.spectrogram`: the tracks;
- :mod:`~avprep.features.tracks`: track timing (which samples a step analyses);
- :mod:`~avprep.features.windows`: per-video-frame windows and their validity;
- :mod:`~avprep.features.noise`: DVAE's white-noise augmentation;
- :mod:`~avprep.features.stage`: :class:`AudioFeatureStage` for ``avprep build``.
"""

from avprep.features.config import (
    FEATURE_CONFIGS,
    FeatureConfig,
    HtkMfccConfig,
    LogSpecConfig,
    PsfMfccConfig,
    WindowConvention,
    config_from_dict,
    config_to_dict,
    get_feature_config,
    load_feature_configs,
    register_feature_config,
)
from avprep.features.mfcc import mfcc_htk, mfcc_psf
from avprep.features.noise import add_white_noise, noise_track_name
from avprep.features.spectrogram import log_spectrogram
from avprep.features.stage import DEFAULT_FEATURES, AudioFeatureStage
from avprep.features.tracks import (
    FeatureTrack,
    TrackTiming,
    compute_track,
    feature_track,
    track_timing,
)
from avprep.features.windows import FrameWindows, frame_windows, window_spans, window_starts

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURE_CONFIGS",
    "AudioFeatureStage",
    "FeatureConfig",
    "FeatureTrack",
    "FrameWindows",
    "HtkMfccConfig",
    "LogSpecConfig",
    "PsfMfccConfig",
    "TrackTiming",
    "WindowConvention",
    "add_white_noise",
    "compute_track",
    "config_from_dict",
    "config_to_dict",
    "feature_track",
    "frame_windows",
    "get_feature_config",
    "load_feature_configs",
    "log_spectrogram",
    "mfcc_htk",
    "mfcc_psf",
    "noise_track_name",
    "register_feature_config",
    "track_timing",
    "window_spans",
    "window_starts",
]
