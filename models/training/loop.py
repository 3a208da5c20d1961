"""The training loop every method shares (:func:`train`).

Step-based: ``steps`` optimisation steps, each rank cycling through its own epochs of its own
shards (``models.data`` partitions by rank and DataLoader worker), so every rank runs the same
number of steps whatever the sizes of the parts. Per step: next batch (timed: the data wait),
to the device, ``trainer.train_step``; then, on schedule, scalars (TensorBoard + JSONL), the
progress bar, sample grid and videos (rank 0), validation (every rank its part of the
validation split, averaged over ranks), checkpoint (gathered to rank 0, written atomically).

Exact resume: a checkpoint taken after step N holds the modules, optimisers, schedulers,
the trainer's extra state, each rank's RNG states and loader position; resuming restores
them after building the trainer and continues with batch N+1 of the same sequence (on CPU,
N steps + resume + N steps equals 2N steps bit for bit; tested).

The trainer's ``sample`` and ``validate`` run on rank 0 only / outside DDP's gradient sync:
they should call the unwrapped modules in ``trainer.modules``, not the wrapped ones.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avprep.reader.stream import derive_seed
from models import methods
from models.data import ShardLoader, make_loader, to_device
from models.training import checkpoint as ckpt
from models.training.builds import BuildCheckError, check_builds
from models.training.config import CONFIG_FILE, RunConfig
from models.training.distributed import (
    DistEnv,
    barrier,
    broadcast_object,
    close_distributed,
    gather_objects,
    init_distributed,
    resolve_device,
)
from models.training.logs import RunLogger, write_samples
from models.training.method import MethodTrainer, TrainContext

log = logging.getLogger(__name__)


class EmptyDataError(RuntimeError):
    """A rank's part of the data gives no batch at all."""


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked (exists without --resume, wrong world size)."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    checkpoint: Path | None
    last_scalars: dict[str, float] = field(default_factory=dict)
    resumed_from: int = 0


def precision_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA (or when asked), fp32 otherwise."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def make_wrap(
    env: DistEnv, device: torch.device, channels_last: bool, compile_: bool,
    find_unused: bool = False,
):  # fmt: skip
    """The ``TrainContext.wrap`` of this run: channels_last, DDP, torch.compile."""

    def wrap(module: nn.Module) -> nn.Module:
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        wrapped: nn.Module = module
        if env.enabled and any(p.requires_grad for p in module.parameters()):
            from torch.nn.parallel import DistributedDataParallel

            wrapped = DistributedDataParallel(
                module,
                device_ids=[device] if device.type == "cuda" else None,
                find_unused_parameters=find_unused,
            )
        if compile_:
            wrapped = torch.compile(wrapped)
        return wrapped

    return wrap


class _BatchStream:
    """Endless batches of one rank: epoch after epoch of a :class:`ShardLoader`."""

    def __init__(self, loader: ShardLoader, view: Any, rank: int, min_batch: int = 1) -> None:
        self.loader = loader
        self.view = view
        self.rank = rank
        # Batches smaller than the method's minimum (the last, partial batch of a reader's
        # epoch can hold a single item, and BatchNorm in training cannot normalise one value
        # per channel) are skipped; deterministic, so resume stays exact.
        self.min_batch = min_batch
        self.small_batches_skipped = 0
        self._it: Iterator[dict[str, Any]] | None = None

    def next(self) -> dict[str, Any]:
        for _ in range(2):
            if self._it is None:
                self._it = iter(self.loader)
            try:
                while True:
                    batch = next(self._it)
                    if len(batch["__resume__"]) >= self.min_batch:
                        return batch
                    self.small_batches_skipped += 1
            except StopIteration:
                self._it = None  # the loader moved to the next epoch
        skipped = dict(getattr(self.view, "skipped", {}) or {})
        raise EmptyDataError(
            f"rank {self.rank}: a whole epoch gave no batch of at least {self.min_batch} "
            "item(s). Its part of the data is empty "
            f"or the view skipped every sample{f' ({skipped})' if skipped else ''}: check "
            "--split/--selection, or use fewer ranks/workers (--set num_workers=N), or "
            "drop_last=false when there are fewer samples per reader than the batch size"
        )

    def close(self) -> None:
        self._it = None


def _collect_state(trainer: MethodTrainer) -> dict[str, Any]:
    return {
        "modules": {k: m.state_dict() for k, m in trainer.modules.items()},
        "optimizers": {k: o.state_dict() for k, o in trainer.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in trainer.schedulers.items()},
        "extra": trainer.extra_state(),
    }


def _restore_state(trainer: MethodTrainer, state: dict[str, Any], path: Path) -> None:
    for part in ("modules", "optimizers", "schedulers"):
        mine, saved = getattr(trainer, part), state.get(part, {})
        if set(mine) != set(saved):
            raise RunFolderError(
                f"{path}: checkpoint {part} {sorted(saved)} do not match this trainer's "
                f"{sorted(mine)} (resume with the same method, stage and config)"
            )
        for k, obj in mine.items():
            obj.load_state_dict(saved[k])
    trainer.load_extra_state(state.get("extra", {}))


def _check_run_dir(run_dir: Path, resume: bool, env: DistEnv) -> None:
    has_run = (run_dir / CONFIG_FILE).exists() or ckpt.list_checkpoints(run_dir)
    if has_run and not resume:
        raise RunFolderError(
            f"{run_dir} already holds a run: add --resume to continue it, or choose another --out"
        )


def train(
    run: RunConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    init: str | os.PathLike | None = None,
) -> TrainResult:
    """Train ``run.method`` at stage ``run.stage`` into the run folder ``out``."""
    cfg = run.train
    if not cfg.data:
        raise ValueError("no training data: give --data BUILD (repeatable)")
    run_dir = Path(out)
    from avprep.reader import resolve_shards

    problems = check_builds(run.method, run.stage, cfg.data, cfg.splits)
    if problems:
        raise BuildCheckError(
            f"the data cannot train {run.method} (stage {run.stage}):\n  " + "\n  ".join(problems)
        )
    resolve_shards(list(cfg.data), cfg.splits)  # ShardSourceError naming what is missing
    device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
    env = init_distributed(device)
    try:
        return _train(run, run_dir, env, device, resume, init)
    finally:
        close_distributed(env)


def _train(
    run: RunConfig, run_dir: Path, env: DistEnv, device: torch.device, resume: bool, init: Any
) -> TrainResult:
    cfg, mcfg = run.train, run.method_config
    if env.is_main:
        _check_run_dir(run_dir, resume, env)
        run_dir.mkdir(parents=True, exist_ok=True)
    barrier(env)
    resume_path = ckpt.latest_checkpoint(run_dir) if resume else None
    resume_path = broadcast_object(env, resume_path)
    state = ckpt.load_checkpoint(resume_path) if resume_path else None
    if state is not None and state.get("world_size", 1) != env.world_size:
        raise RunFolderError(
            f"{resume_path} was written by {state.get('world_size')} ranks; resume it with "
            f"the same number (torchrun --nproc_per_node ...), not {env.world_size}"
        )
    if env.is_main:
        (run_dir / CONFIG_FILE).write_text(json.dumps(run.to_json(), indent=2) + "\n")

    # the same seed on every rank while the trainer builds its modules (identical weights
    # even for modules DDP does not wrap), then a per-rank seed for what each rank draws
    ckpt.seed_everything(cfg.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
        torch.backends.cudnn.allow_tf32 = cfg.tf32
        torch.backends.cudnn.benchmark = True
    ctx_channels_last = cfg.channels_last and device.type == "cuda"
    ctx = TrainContext(
        device=device,
        amp_dtype=precision_dtype(cfg.precision, device),
        rank=env.rank,
        world_size=env.world_size,
        channels_last=ctx_channels_last,
        compile=cfg.compile,
        wrap=make_wrap(env, device, ctx_channels_last, cfg.compile, cfg.ddp_find_unused_parameters),
        data=tuple(cfg.data),
        splits=tuple(cfg.splits) if cfg.splits else None,
        run_dir=str(run_dir),
    )
    trainer: MethodTrainer = methods.trainer_class(run.method, run.stage)(mcfg, ctx)
    ckpt.seed_everything(derive_seed("rank", cfg.seed, env.rank) % 2**63)
    start = 0
    if state is not None:
        _restore_state(trainer, state, resume_path)
        start = int(state["step"])
    elif init is not None:
        trainer.init_from(ckpt.load_checkpoint(init))

    view = trainer.make_view()
    loader = make_loader(
        list(cfg.data), view, int(mcfg.batch_size), num_workers=cfg.num_workers,
        splits=cfg.splits, selection=cfg.selection, seed=cfg.seed,
        shuffle_buffer=cfg.shuffle_buffer, item_buffer=cfg.item_buffer, split_by=cfg.split_by,
        rank=env.rank, world_size=env.world_size,
        pin_memory=(device.type == "cuda") if cfg.pin_memory is None else cfg.pin_memory,
        drop_last=cfg.drop_last, prefetch_factor=cfg.prefetch_factor,
    )  # fmt: skip
    if state is not None:
        mine = state["ranks"][env.rank]
        loader.load_state_dict(mine["loader"])
        ckpt.set_rng_state(mine["rng"])
    val_loader = _val_loader(run, view, env, device) if cfg.val_every else None

    logger = RunLogger(run_dir, env.is_main, cfg.steps, start, cfg.progress)
    stream = _BatchStream(loader, view, env.rank, int(getattr(trainer, "min_batch_size", 1)))
    step = start
    last: dict[str, float] = {}
    written: Path | None = resume_path
    wait = busy = 0.0
    seen = 0
    try:
        while step < cfg.steps:
            t0 = time.perf_counter()
            batch = stream.next()
            t1 = time.perf_counter()
            batch = to_device(batch, device)
            scalars = trainer.train_step(batch, step)
            step += 1
            logging_now = bool(cfg.log_every) and step % cfg.log_every == 0
            if logging_now and device.type == "cuda":
                torch.cuda.synchronize(device)  # honest step times at log steps
            n = _batch_len(batch)
            seen += n * env.world_size
            wait += t1 - t0
            busy += time.perf_counter() - t0
            last = {k: float(v) for k, v in scalars.items()}
            rate = seen / busy if busy > 0 else 0.0
            logger.progress(step, {**_headline(last), "samples/s": rate})
            if logging_now:
                lrs = {
                    f"lr/{name}": opt.param_groups[0]["lr"]
                    for name, opt in trainer.optimizers.items()
                }
                # perf/samples: the items behind the rate (the last batch of an epoch can be
                # partial), so benchmarks can tell step time from throughput
                perf = {
                    "perf/samples_per_s": rate,
                    "perf/data_wait_fraction": wait / busy,
                    "perf/samples": seen,
                }
                logger.scalars(step, {**last, **lrs, **perf})
                wait = busy = 0.0
                seen = 0
            if cfg.sample_every and step % cfg.sample_every == 0 and env.is_main:
                _sample(trainer, batch, run_dir, step, cfg.sample_items, logger)
            if val_loader is not None and step % cfg.val_every == 0:
                vals = _validate(trainer, val_loader, cfg.val_batches, env, device)
                if vals:
                    logger.scalars(step, {f"val/{k}": v for k, v in vals.items()})
            if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == cfg.steps:
                written = _checkpoint(trainer, run, loader, env, run_dir, step)
        logger.flush()
    finally:
        stream.close()
        logger.close()
    return TrainResult(run_dir, step, written, last, start)


def _batch_len(batch: dict[str, Any]) -> int:
    for v in batch.values():
        if isinstance(v, torch.Tensor) and v.ndim > 0:
            return int(v.shape[0])
        if isinstance(v, list):
            return len(v)
    return 0


def _headline(scalars: dict[str, float]) -> dict[str, float]:
    """What the progress bar shows: ``loss``, else every ``loss*`` scalar (a GAN's
    ``loss_d``/``loss_g``), else the first scalar."""
    if "loss" in scalars:
        return {"loss": scalars["loss"]}
    losses = {k: v for k, v in scalars.items() if k.startswith("loss")}
    if losses:
        return losses
    return dict(list(scalars.items())[:1])


def _sample(trainer, batch, run_dir: Path, step: int, items: int, logger: RunLogger) -> None:
    with torch.no_grad():
        out = trainer.sample(batch)
    if out is None:
        return
    grid, _ = write_samples(run_dir, step, out, items)
    logger.image("samples", grid, step)


def _val_loader(run: RunConfig, view: Any, env: DistEnv, device: torch.device):
    """A loader over the validation split, or None when the data has none."""
    from avprep.reader import ShardSourceError
    from models.training.builds import read_build_info, split_counts

    cfg = run.train
    if not cfg.val_split:
        return None
    for source in cfg.data:
        info = read_build_info(source)
        if info is not None and split_counts(info) and not split_counts(info).get(cfg.val_split):
            log.info("%s has no %r split: no validation from it", source, cfg.val_split)
    try:
        return make_loader(
            list(cfg.data), view, int(run.method_config.batch_size), num_workers=0,
            splits=(cfg.val_split,), seed=cfg.seed, shuffle=False, rank=env.rank,
            world_size=env.world_size, pin_memory=False,
        )  # fmt: skip
    except ShardSourceError:
        if env.is_main:
            log.info("no %r shards in the data: validation is off", cfg.val_split)
        return None


def _validate(trainer, loader: ShardLoader, max_batches: int, env: DistEnv, device):
    """Mean of ``trainer.validate`` over up to ``max_batches`` batches per rank, weighted by
    batch size and averaged over all ranks. The loader restarts at the same epoch each time
    (fixed validation set)."""
    sums: dict[str, float] = {}
    count = 0
    loader.set_epoch(0)
    for i, batch in enumerate(loader):
        if i >= max_batches:
            break
        n = _batch_len(batch)
        with torch.no_grad():
            for k, v in trainer.validate(to_device(batch, device)).items():
                sums[k] = sums.get(k, 0.0) + float(v) * n
        count += n
    loader.set_epoch(0)
    gathered = gather_objects(env, (sums, count))
    total = sum(c for _, c in gathered)
    if total == 0:
        return {}
    keys = sorted({k for s, _ in gathered for k in s})
    return {k: sum(s.get(k, 0.0) for s, _ in gathered) / total for k in keys}


def _checkpoint(trainer, run: RunConfig, loader, env: DistEnv, run_dir: Path, step: int):
    """Gather every rank's RNG + loader position; rank 0 writes the file."""
    ranks = gather_objects(env, {"rng": ckpt.rng_state(), "loader": loader.state_dict()})
    path = None
    if env.is_main:
        state = {
            "format": ckpt.FORMAT,
            "method": run.method,
            "stage": run.stage,
            "step": step,
            **_collect_state(trainer),
            "config": run.to_json(),
            "world_size": env.world_size,
            "ranks": ranks,
        }
        path = ckpt.save_checkpoint(run_dir, step, state, run.train.keep_last)
    barrier(env)
    return path
