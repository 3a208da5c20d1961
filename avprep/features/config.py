"""Named audio-feature configurations: what each paper computes, as dataclasses.

Three kinds of feature exist, each a frozen dataclass:

- :class:`HtkMfccConfig` (``kind="mfcc_htk"``): the HTK-style MFCC that the official DAVS
  preprocessing computes in MATLAB (Kamil Wojcicki's ``mfcc.m``, "HTK MFCC MATLAB").
- :class:`PsfMfccConfig` (``kind="mfcc_psf"``): ``python_speech_features.mfcc`` with the given
  arguments (SyncNet convention, and CRAN's 20 ms variant).
- :class:`LogSpecConfig` (``kind="logspec"``): a dB log-magnitude spectrogram (DVAE, after
  the FHVAE recipe it cites).

Each config carries the per-video-frame :class:`WindowConvention` its paper uses, so a track
stored in a shard says how to cut its per-frame windows (see :mod:`avprep.features.windows`).

A user adds a configuration without code changes with a JSON file, read by
:func:`load_feature_configs` (the CLI's ``--feature-config FILE``)::

    [
      {"name": "mfcc_davs_padded", "base": "mfcc_davs", "window": {"edge": "pad_edge"}},
      {"name": "logspec_512", "kind": "logspec", "n_fft": 512, "win_length": 400,
       "n_bins": 256, "window": {"width": 20, "anchor": "center"}}
    ]

``base`` copies a registered config and overrides the given fields (``window`` is merged
field by field); without ``base``, ``kind`` is required and omitted fields take the
dataclass defaults.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Anchor = Literal["start", "center"]
EdgePolicy = Literal["invalid", "pad_zero", "pad_edge"]
ANCHORS: tuple[str, ...] = ("start", "center")
EDGE_POLICIES: tuple[str, ...] = ("invalid", "pad_zero", "pad_edge")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class WindowConvention:
    """How a per-video-frame window is cut from a continuous feature track.

    For video frame ``i`` (0-based) at ``fps``, the window is the ``width`` consecutive track
    steps starting at step ``s_i``:

    - ``anchor="start"``: ``s_i = round(t_i / hop - first_start / hop) + offset`` where
      ``t_i = i / fps`` is the frame's start time, i.e. ``offset`` counts steps from the step
      whose analysis window starts at the frame time.
    - ``anchor="center"``: ``s_i`` is chosen so that the audio the window covers (from the
      start of step ``s_i``'s analysis window to the end of step ``s_i + width - 1``'s) is
      centred on the frame centre ``(i + 0.5) / fps``, then ``offset`` is added.

    ``round`` is round-half-up after rounding to 6 decimals (so float noise never flips a
    tie). ``edge`` says what happens to steps outside the track's usable range (steps whose
    analysis window lies entirely inside the audio): ``invalid`` fills them with zeros and
    marks the frame invalid; ``pad_zero``/``pad_edge`` fill them with zeros / the nearest
    usable step and keep the frame valid, recording how many steps were padded.
    """

    width: int = 20
    anchor: Anchor = "start"
    offset: int = 0
    edge: EdgePolicy = "invalid"

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"window width must be >= 1, got {self.width}")
        if self.anchor not in ANCHORS:
            raise ValueError(f"window anchor must be one of {ANCHORS}, got {self.anchor!r}")
        if self.edge not in EDGE_POLICIES:
            raise ValueError(f"window edge must be one of {EDGE_POLICIES}, got {self.edge!r}")


@dataclass(frozen=True)
class HtkMfccConfig:
    """HTK-style MFCC as in Wojcicki's MATLAB ``mfcc.m`` (used by DAVS's preprocessing).

    Steps: scale by ``input_scale`` (MATLAB "explodes" [-1, 1] audio to 16-bit range),
    pre-emphasis ``y[n] = x[n] - a x[n-1]`` over the whole signal (``y[0] = x[0]``), frames of
    ``win_length`` samples every ``hop_length`` with no padding (``floor((N - Nw)/Ns) + 1``
    frames, trailing samples dropped), symmetric Hamming window, ``n_fft``-point FFT,
    magnitude (not power) spectrum, ``n_mels`` triangular filters (linear in Hz, peak 1,
    centres uniform on the HTK mel scale ``1127 ln(1 + f/700)`` between ``fmin`` and
    ``fmax``), natural log, DCT-II scaled ``sqrt(2/M)``, sine lifter ``1 + L/2 sin(pi n/L)``,
    then coefficients ``keep_from`` .. ``n_ceps - 1`` (``keep_from=1`` drops c0).

    ``fbe_floor``: filterbank outputs below it are raised to it before the log (the mel floor
    that ``mfcc.m`` carries commented out as ``FBE(FBE<1.0) = 1.0``). In 16-bit units it only
    acts on digital near-silence, where MATLAB would produce ``-Inf``/``NaN``.
    """

    name: str
    kind: Literal["mfcc_htk"] = "mfcc_htk"
    sample_rate: int = 16000
    win_length: int = 400
    hop_length: int = 160
    n_fft: int = 512
    preemphasis: float = 0.97
    n_mels: int = 13
    fmin: float = 300.0
    fmax: float = 3700.0
    n_ceps: int = 13
    lifter: int = 22
    keep_from: int = 1
    input_scale: float = 32768.0
    fbe_floor: float = 1.0
    window: WindowConvention = field(default_factory=WindowConvention)
    description: str = ""

    @property
    def dim(self) -> int:
        return self.n_ceps - self.keep_from


@dataclass(frozen=True)
class PsfMfccConfig:
    """``python_speech_features.mfcc`` with these arguments, on ``audio * input_scale``.

    psf's own maths: pre-emphasis over the whole signal, frames of ``round(winlen * sr)``
    samples every ``round(winstep * sr)`` with ``1 + ceil((N - Nw)/Ns)`` frames (the last one
    zero-padded), rectangular window unless ``hamming``, power spectrum ``|X|^2 / nfft``,
    ``nfilt`` triangles on FFT-bin-rounded mel points (``2595 log10(1 + f/700)``), log (exact
    zeros replaced by float64 eps: an explicit floor, so silence gives ``log(eps)``, never
    ``-inf``), orthonormal DCT-II, lifter, c0 replaced by log frame energy when
    ``append_energy``. Then coefficients from ``keep_from`` on are kept.

    ``input_scale=32768``: SyncNet's reference code (``syncnet_python``) reads the wav with
    ``scipy.io.wavfile`` and hands int16 samples to psf; the scale only shifts the first
    (log-energy) coefficient by ``2 ln 32768`` and changes where the eps floor applies.
    """

    name: str
    kind: Literal["mfcc_psf"] = "mfcc_psf"
    sample_rate: int = 16000
    winlen: float = 0.025
    winstep: float = 0.01
    numcep: int = 13
    nfilt: int = 26
    nfft: int = 512
    lowfreq: float = 0.0
    highfreq: float | None = None
    preemph: float = 0.97
    ceplifter: int = 22
    append_energy: bool = True
    hamming: bool = False
    keep_from: int = 0
    input_scale: float = 32768.0
    window: WindowConvention = field(default_factory=WindowConvention)
    description: str = ""

    @property
    def dim(self) -> int:
        return self.numcep - self.keep_from

    @property
    def win_length(self) -> int:
        return _round_half_up(self.winlen * self.sample_rate)

    @property
    def hop_length(self) -> int:
        return _round_half_up(self.winstep * self.sample_rate)


@dataclass(frozen=True)
class LogSpecConfig:
    """Log-magnitude spectrogram in dB, FHVAE's recipe (see :mod:`avprep.features.spectrogram`).

    Frames of ``win_length`` samples every ``hop_length`` starting at sample 0 (not centred),
    times ``window_fn`` (``"sqrt_hann"``: FHVAE's sqrt of the periodic Hann; or any
    ``scipy.signal.get_window`` name, periodic), ``n_fft``-point FFT, magnitude,
    ``db_scale * max(log10|X|, log_floor)``, bins ``first_bin .. first_bin + n_bins - 1``
    (FHVAE ``--remove_0th True``: ``first_bin = 1``, DC dropped). No pre-emphasis.
    """

    name: str
    kind: Literal["logspec"] = "logspec"
    sample_rate: int = 16000
    n_fft: int = 400
    win_length: int = 400
    hop_length: int = 160
    window_fn: str = "sqrt_hann"
    log_floor: float = -20.0  # on log10|X|, before db_scale (FHVAE log_floor=-20)
    db_scale: float = 20.0
    first_bin: int = 1
    n_bins: int = 200
    input_scale: float = 1.0
    window: WindowConvention = field(default_factory=WindowConvention)
    description: str = ""

    @property
    def dim(self) -> int:
        return self.n_bins


FeatureConfig = HtkMfccConfig | PsfMfccConfig | LogSpecConfig
CONFIG_KINDS: dict[str, type] = {
    "mfcc_htk": HtkMfccConfig,
    "mfcc_psf": PsfMfccConfig,
    "logspec": LogSpecConfig,
}


def _round_half_up(x: float) -> int:
    """psf's rounding of window/hop lengths (``decimal.ROUND_HALF_UP``)."""
    return int(math.floor(round(x, 6) + 0.5))


MFCC_DAVS = HtkMfccConfig(
    name="mfcc_davs",
    # savemfcc.m writes MATLAB columns 4l-7..4l+12 to l.bin and the official loader pairs
    # n.jpg (0-based frames 0.jpg..28.jpg) with n.bin: 0-based frame n takes 0-based steps
    # 4n-8..4n+11, i.e. offset -8 from the step that starts at the frame time.
    window=WindowConvention(width=20, anchor="start", offset=-8, edge="invalid"),
    description=(
        "DAVS (Zhou et al. 2019): HTK-style MATLAB MFCC, 25 ms Hamming / 10 ms hop, "
        "pre-emphasis 0.97, 512-pt FFT magnitude, 13 mel filters 300-3700 Hz, x2^15, lifter 22, "
        "c0 dropped -> 12 x 20 per video frame; 0-based frame n takes 0-based MFCC steps "
        "4n-8..4n+11 (official n.jpg <-> n.bin = MATLAB columns 4n-7..4n+12)"
    ),
)
MFCC_SYNCNET = PsfMfccConfig(
    name="mfcc_syncnet",
    window=WindowConvention(width=20, anchor="center", offset=0, edge="invalid"),
    description=(
        "SyncNet convention: python_speech_features.mfcc defaults (25 ms / 10 ms, 26 filters "
        "0-8 kHz, 13 coefficients, c0 = log energy) on int16-scaled audio; 13 x 20 per frame, "
        "centred on the video frame"
    ),
)
MFCC_CRAN = PsfMfccConfig(
    name="mfcc_cran",
    winlen=0.02,
    keep_from=1,
    window=WindowConvention(width=35, anchor="center", offset=0, edge="invalid"),
    description=(
        "CRAN (Song et al. 2019), Speech2Vid protocol: MFCC from 20 ms windows every 10 ms "
        "(python_speech_features, other arguments default), first coefficient removed -> "
        "35 x 12 per frame (350 ms), centred on the video frame"
    ),
)
LOGSPEC_DVAE = LogSpecConfig(
    name="logspec_dvae",
    window=WindowConvention(width=20, anchor="center", offset=0, edge="invalid"),
    description=(
        "DVAE (Mittal et al. 2020) after the FHVAE recipe it cites (Hsu et al. 2017, "
        "make_spec.sh / tools/audio.py): 400-sample frames every 160 samples (not centred), "
        "sqrt periodic Hann, no pre-emphasis, 400-pt FFT, 20*log10 magnitude floored at "
        "log10 = -20, DC bin removed -> 200 bins; 200 ms segments (T = 20 frames) centred on "
        "the video frame"
    ),
)

FEATURE_CONFIGS: dict[str, FeatureConfig] = {
    c.name: c for c in (MFCC_DAVS, MFCC_SYNCNET, MFCC_CRAN, LOGSPEC_DVAE)
}


def validate_name(name: str) -> str:
    """Feature names become shard member names (``<key>.<name>.npy``): no dots."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"invalid feature name {name!r}: use letters, digits, '_' or '-', "
            "starting with a letter (no dots: it becomes part of a shard member name)"
        )
    return name


def register_feature_config(config: FeatureConfig, *, replace: bool = False) -> None:
    """Add a config to the global registry (code-level alternative to a JSON file)."""
    validate_name(config.name)
    if config.name in FEATURE_CONFIGS and not replace:
        raise ValueError(f"feature config {config.name!r} is already registered")
    FEATURE_CONFIGS[config.name] = config


def get_feature_config(
    name: str, extra: dict[str, FeatureConfig] | None = None
) -> FeatureConfig:
    """Look a config up in ``extra`` first, then in the registry."""
    if extra and name in extra:
        return extra[name]
    try:
        return FEATURE_CONFIGS[name]
    except KeyError:
        known = sorted(set(FEATURE_CONFIGS) | set(extra or {}))
        raise KeyError(f"unknown feature config {name!r}; known: {', '.join(known)}") from None


def config_to_dict(config: FeatureConfig) -> dict[str, Any]:
    """JSON-ready dict of a config (the form stored in sample metadata and accepted back)."""
    return dataclasses.asdict(config)


def config_from_dict(
    data: dict[str, Any], known: dict[str, FeatureConfig] | None = None
) -> FeatureConfig:
    """Build a config from a dict (one JSON entry); see the module docstring for the form."""
    if not isinstance(data, dict):
        raise ValueError(f"a feature config must be a JSON object, got {type(data).__name__}")
    data = dict(data)
    if "name" not in data:
        raise ValueError(f"feature config without a 'name': {data}")
    name = validate_name(data["name"])
    base_name = data.pop("base", None)
    window_over = data.pop("window", None)
    if base_name is not None:
        base = get_feature_config(base_name, known)
        kind = data.pop("kind", base.kind)
        if kind != base.kind:
            raise ValueError(f"{name}: kind {kind!r} differs from its base's {base.kind!r}")
        cls = CONFIG_KINDS[kind]
        merged = config_to_dict(base)
        merged.pop("window")
        overrides = sorted(set(data) - {"name", "description"})
        if window_over:
            overrides.append("window")
        merged["description"] = f"{base.name} with {', '.join(overrides) or 'no'} changed"
        merged.update(data)
        window_fields = dataclasses.asdict(base.window)
    else:
        kind = data.pop("kind", None)
        if kind not in CONFIG_KINDS:
            raise ValueError(
                f"{name}: 'kind' must be one of {sorted(CONFIG_KINDS)} (or give a 'base'), "
                f"got {kind!r}"
            )
        cls = CONFIG_KINDS[kind]
        merged = dict(data)
        window_fields = {}
    merged["kind"] = kind
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = set(merged) - allowed
    if unknown:
        raise ValueError(f"{name}: unknown field(s) {sorted(unknown)} for kind {kind!r}")
    if window_over is not None:
        if not isinstance(window_over, dict):
            raise ValueError(f"{name}: 'window' must be an object")
        bad = set(window_over) - {f.name for f in dataclasses.fields(WindowConvention)}
        if bad:
            raise ValueError(f"{name}: unknown window field(s) {sorted(bad)}")
        window_fields.update(window_over)
    merged["window"] = WindowConvention(**window_fields)
    config = cls(**merged)
    _check_config(config)
    return config


def _check_config(config: FeatureConfig) -> None:
    if config.dim < 1:
        raise ValueError(f"{config.name}: feature dimension would be {config.dim}")
    if isinstance(config, HtkMfccConfig):
        if config.win_length > config.n_fft:
            raise ValueError(f"{config.name}: win_length > n_fft")
        if not 0 <= config.fmin < config.fmax <= config.sample_rate / 2:
            raise ValueError(f"{config.name}: need 0 <= fmin < fmax <= sample_rate/2")
        if config.n_ceps > config.n_mels:
            raise ValueError(f"{config.name}: n_ceps > n_mels")
    if isinstance(config, LogSpecConfig):
        if config.first_bin < 0 or config.first_bin + config.n_bins > config.n_fft // 2 + 1:
            raise ValueError(f"{config.name}: first_bin + n_bins > n_fft/2 + 1")
        if config.win_length > config.n_fft:
            raise ValueError(f"{config.name}: win_length > n_fft")


def load_feature_configs(
    path: str | Path, known: dict[str, FeatureConfig] | None = None
) -> dict[str, FeatureConfig]:
    """Read user feature configs from a JSON file (``--feature-config FILE``).

    The file holds a list of config objects, or ``{"configs": [...]}``, or an object mapping
    name -> config (the name is then taken from the key). Later entries may use earlier ones
    as ``base``. Returns name -> config; nothing is registered globally (pass the result as
    ``extra_configs`` to :class:`~avprep.features.stage.AudioFeatureStage`).
    """
    from avprep.storage import read_text

    return parse_feature_configs(json.loads(read_text(str(path))), known, source=str(path))


def parse_feature_configs(
    raw: object, known: dict[str, FeatureConfig] | None = None, source: str = "feature config"
) -> dict[str, FeatureConfig]:
    """The parsed JSON of a ``--feature-config`` file -> name -> config (see above).

    A build stores this JSON in its configuration, so workers on a cluster need no file."""
    path = source
    if isinstance(raw, dict) and "configs" in raw:
        raw = raw["configs"]
    if isinstance(raw, dict):
        entries = [{**v, "name": v.get("name", k)} for k, v in raw.items()]
    elif isinstance(raw, list):
        entries = raw
    else:
        raise ValueError(f"{path}: expected a JSON list or object of feature configs")
    out: dict[str, FeatureConfig] = {}
    for entry in entries:
        config = config_from_dict(entry, {**(known or {}), **out})
        if config.name in out:
            raise ValueError(f"{path}: feature config {config.name!r} defined twice")
        out[config.name] = config
    return out
