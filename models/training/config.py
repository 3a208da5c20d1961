"""The run's configuration: :class:`TrainConfig` (what every method shares) + the method's own
config dataclass, both saved in the run folder as ``config.json``.

A run's values come, in this order (later wins), from the dataclass defaults, the saved
``config.json`` of the run being resumed, ``--config FILE``, the CLI's own options
(``--steps``, ``--device``, ...) and ``--set key=value``. ``--config`` takes the same JSON the
run folder holds (``{"train": {...}, "method_config": {...}}``, either section optional), so
a saved run config can seed the next one.

``--set`` keys are ``train.KEY``, ``method.KEY`` (or ``<method name>.KEY``), or a bare
``KEY`` when exactly one of the two configs has it. Values are parsed by the field's type:
``true/false``, ints, floats, ``none``, JSON lists for tuples (``splits=["train","val"]``,
or a comma list ``splits=train,val``), JSON objects for mappings.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONFIG_FILE = "config.json"


@dataclass
class TrainConfig:
    """Everything about a run that is not method-specific (the method's config holds
    ``stage``, ``batch_size``, learning rates, loss weights, network widths)."""

    steps: int = 10000
    # data: build folders / shard sources, the splits to train on, a select-samples output
    data: tuple[str, ...] = ()
    splits: tuple[str, ...] | None = ("train",)
    selection: str | None = None
    val_split: str | None = "val"  # None: no validation
    # devices and precision
    device: str = "auto"  # auto (CUDA when available) | cpu | cuda | cuda:N
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 on CPU) | bf16 | fp32
    tf32: bool = True  # TF32 matmuls/convolutions on Ampere+ (CUDA only)
    channels_last: bool = True  # NHWC memory format for conv nets (CUDA only)
    compile: bool = False  # torch.compile the modules the trainer wraps
    # DDP: allow wrapped modules whose parameters get no gradient in some steps (slower)
    ddp_find_unused_parameters: bool = False
    # schedule of side work (in steps; 0 = never, except the final checkpoint)
    log_every: int = 10
    sample_every: int = 500
    val_every: int = 1000
    val_batches: int = 20  # per rank
    checkpoint_every: int = 1000
    keep_last: int = 3
    sample_items: int = 4  # rows of the sample grid / videos written
    seed: int = 0
    progress: bool = True  # tqdm bar on rank 0
    # loader (models.data.make_loader)
    num_workers: int = 4
    shuffle_buffer: int = 100
    item_buffer: int = 1000
    split_by: str = "auto"  # auto | shard | sample
    prefetch_factor: int | None = None
    pin_memory: bool | None = None  # None: when training on CUDA
    drop_last: bool = False

    def __post_init__(self) -> None:
        checks = {
            "steps": self.steps >= 1,
            "device": self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"),
            "precision": self.precision in ("auto", "bf16", "fp32"),
            "split_by": self.split_by in ("auto", "shard", "sample"),
            "keep_last": self.keep_last >= 1,
            "num_workers": self.num_workers >= 0,
            "val_batches": self.val_batches >= 1,
            "sample_items": self.sample_items >= 1,
        }
        for name in ("log_every", "sample_every", "val_every", "checkpoint_every"):
            checks[name] = getattr(self, name) >= 0
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(
                "bad value for " + ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            )


class ConfigError(ValueError):
    """A config file or ``--set`` that cannot be applied (unknown key, unparsable value)."""


# ------------------------------------------------------------------------ typed parsing


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def parse_value(text: str, tp: Any, key: str = "value") -> Any:
    """``--set`` text -> a value of type ``tp`` (see the module docstring)."""
    raw = text.strip()
    if _is_union(tp):
        args = typing.get_args(tp)
        if type(None) in args and raw.lower() in ("none", "null"):
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return parse_value(raw, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError("; ".join(errors))
    origin = typing.get_origin(tp)
    if tp is Any:
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    if tp is bool:
        low = raw.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {text!r}")
    if tp in (int, float):
        try:
            return tp(raw)
        except ValueError:
            raise ConfigError(f"{key}: expected {tp.__name__}, got {text!r}") from None
    if tp is str:
        return raw
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if raw not in choices:
            raise ConfigError(f"{key}: expected one of {choices}, got {text!r}")
        return raw
    if origin in (tuple, list) or tp in (tuple, list):
        if raw.startswith("["):
            try:
                items = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{key}: bad JSON list {text!r}: {e}") from None
        else:
            items = [p.strip() for p in raw.split(",") if p.strip()]
        return coerce_value(items, tp, key)
    if origin in (dict, Mapping) or tp is dict:
        try:
            return coerce_value(json.loads(raw), tp, key)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{key}: bad JSON object {text!r}: {e}") from None
    raise ConfigError(f"{key}: cannot parse a value of type {tp}")


def coerce_value(value: Any, tp: Any, key: str = "value") -> Any:
    """A JSON value (config file, saved run) -> type ``tp`` (tuples from lists, ints from
    whole floats, strings through :func:`parse_value`); raises :class:`ConfigError`."""
    if isinstance(value, str) and tp is not str and tp is not Any:
        if not (_is_union(tp) and str in typing.get_args(tp)):
            return parse_value(value, tp, key)
    if tp is Any:
        return value
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: may not be null")
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce_value(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError("; ".join(errors))
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{key}: expected one of {typing.get_args(tp)}, got {value!r}")
    if origin in (tuple, list) or tp in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        items = [coerce_value(v, item_tp, key) for v in value]
        return tuple(items) if (origin is tuple or tp is tuple) else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected an object, got {value!r}")
        return dict(value)
    return value


# ------------------------------------------------------------------------ overrides


def _unknown(key: str, known: Iterable[str], where: str) -> ConfigError:
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return ConfigError(f"unknown {where} key {key!r}{hint}; known: {', '.join(known)}")


def update_dataclass(obj: Any, values: Mapping[str, Any], where: str) -> Any:
    """A copy of dataclass ``obj`` with JSON ``values`` applied (typed, unknown keys named)."""
    types_ = _field_types(type(obj))
    changes = {}
    for k, v in values.items():
        if k not in types_:
            raise _unknown(k, types_, where)
        changes[k] = coerce_value(v, types_[k], f"{where}.{k}")
    try:
        return dataclasses.replace(obj, **changes)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def parse_sets(
    pairs: Iterable[str], train: TrainConfig, method_config: Any, method_name: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--set key=value`` pairs -> (train values, method values), typed by the fields."""
    train_types, method_types = _field_types(type(train)), _field_types(type(method_config))
    train_vals: dict[str, Any] = {}
    method_vals: dict[str, Any] = {}
    method_prefixes = {"method"} | ({method_name} if method_name else set())
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE")
        prefix, dot, name = key.partition(".")
        if dot and prefix == "train":
            section = "train"
        elif dot and prefix in method_prefixes:
            section = "method"
        elif dot:
            raise ConfigError(
                f"--set {key!r}: prefix must be 'train.' or '{method_name or 'method'}.'"
            )
        else:
            name = key
            in_train, in_method = name in train_types, name in method_types
            if in_train and in_method:
                raise ConfigError(
                    f"--set {name!r} is both a training and a method setting: write "
                    f"train.{name}= or {method_name or 'method'}.{name}="
                )
            if not (in_train or in_method):
                raise _unknown(name, set(train_types) | set(method_types), "--set")
            section = "train" if in_train else "method"
        types_ = train_types if section == "train" else method_types
        if name not in types_:
            raise _unknown(name, types_, f"--set {section}")
        target = train_vals if section == "train" else method_vals
        target[name] = parse_value(text, types_[name], name)
    return train_vals, method_vals


def config_to_json(obj: Any) -> dict[str, Any]:
    """A config dataclass -> JSON-ready dict (tuples as lists; mappings as objects)."""
    return json.loads(json.dumps(dataclasses.asdict(obj), default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot save {type(value).__name__} in a run config")


def read_config_file(path: str) -> dict[str, Any]:
    """``--config FILE`` -> ``{"train": {...}, "method_config": {...}}`` (checked shape)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"--config {path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a JSON object")
    allowed = {"train", "method_config", "method", "stage", "avprep_version"}
    extra = set(data) - allowed
    if extra:
        raise ConfigError(
            f"--config {path}: unknown section(s) {', '.join(sorted(extra))}; "
            'expected {"train": {...}, "method_config": {...}}'
        )
    for section in ("train", "method_config"):
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"--config {path}: {section!r} must be an object")
    return data


@dataclass
class RunConfig:
    """The full configuration of one run (what ``config.json`` in the run folder holds)."""

    method: str
    train: TrainConfig
    method_config: Any
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        return str(self.method_config.stage)

    def to_json(self) -> dict[str, Any]:
        import avprep

        return {
            "avprep_version": avprep.__version__,
            "method": self.method,
            "stage": self.stage,
            "train": config_to_json(self.train),
            "method_config": config_to_json(self.method_config),
            **self.extra,
        }


def resolve_config(
    method: str,
    *,
    stage: str | None = None,
    base: Mapping[str, Any] | None = None,
    config_file: str | None = None,
    train_values: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
) -> RunConfig:
    """Defaults < ``base`` (a saved run config) < ``config_file`` < ``train_values`` (the
    CLI's own options) < ``--set`` pairs < ``stage``. The method's config class comes from
    the registry."""
    from models import methods

    spec = methods.method(method)
    config_cls = methods.load(spec.config)
    train = TrainConfig()
    method_config = config_cls()
    layers: list[Mapping[str, Any]] = []
    if base:
        layers.append(base)
    if config_file:
        data = read_config_file(config_file)
        if data.get("method", method) != method:
            raise ConfigError(f"--config {config_file} is a {data['method']} config, not {method}")
        layers.append(data)
    for layer in layers:
        train = update_dataclass(train, layer.get("train", {}), "train")
        method_config = update_dataclass(method_config, layer.get("method_config", {}), method)
    if train_values:
        train = update_dataclass(train, train_values, "train")
    train_sets, method_sets = parse_sets(list(sets), train, method_config, method)
    train = update_dataclass(train, train_sets, "train")
    method_config = update_dataclass(method_config, method_sets, method)
    if stage is not None:
        if stage not in spec.stages:
            raise ConfigError(f"{method} has no stage {stage!r}; stages: {', '.join(spec.stages)}")
        method_config = dataclasses.replace(method_config, stage=stage)
    if method_config.stage not in spec.stages:
        raise ConfigError(
            f"{method} config has stage {method_config.stage!r}; stages: {', '.join(spec.stages)}"
        )
    return RunConfig(method, train, method_config)
