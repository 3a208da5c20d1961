"""What a run shows: TensorBoard scalars, a JSONL of every logged scalar, a tqdm bar, and
sample grids (PNG) and videos with sound (MP4) from :class:`SampleOutput`.

Run folder::

    RUN_DIR/config.json                 the full run config (TrainConfig + method config)
    RUN_DIR/checkpoints/step-*.pt       the last k checkpoints
    RUN_DIR/tensorboard/events.out...   `tensorboard --logdir RUN_DIR/tensorboard`
    RUN_DIR/scalars.jsonl               {"step", "time", "tag": value, ...} per logged step
    RUN_DIR/samples/step-00000500.png   rows: identity | ground truth frames | generated frames
    RUN_DIR/samples/step-00000500-0.mp4 identity | truth | generated, with the clip's audio

Only rank 0 writes (the other ranks get a :class:`RunLogger` that does nothing).
"""

from __future__ import annotations

import json
import math
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from models.training.method import SampleOutput

SCALARS_FILE = "scalars.jsonl"
TENSORBOARD_DIR = "tensorboard"
SAMPLES_DIR = "samples"
AUDIO_RATE = 16000


class RunLogger:
    """Scalars to TensorBoard + JSONL (rank 0), and the progress bar."""

    def __init__(
        self, run_dir: str | os.PathLike, enabled: bool, total_steps: int, start_step: int,
        progress: bool = True,
    ) -> None:  # fmt: skip
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.writer = None
        self.jsonl = None
        self.bar = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run drops what an interrupted one logged after its last checkpoint
        self.writer = SummaryWriter(str(self.run_dir / TENSORBOARD_DIR), purge_step=start_step)
        _truncate_jsonl(self.run_dir / SCALARS_FILE, start_step)
        self.jsonl = open(self.run_dir / SCALARS_FILE, "a", encoding="utf-8")  # noqa: SIM115
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
                desc="train", smoothing=0.1,
            )  # fmt: skip

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        clean = {k: float(v) for k, v in values.items()}
        for tag, v in clean.items():
            self.writer.add_scalar(tag, v, step)
        record = {"step": step, "time": round(time.time(), 3)}
        record.update({k: (v if math.isfinite(v) else str(v)) for k, v in clean.items()})
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()

    def progress(self, step: int, postfix: dict[str, float]) -> None:
        if self.bar is None:
            return
        self.bar.update(step - self.bar.n)
        self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        if self.enabled:
            self.writer.add_image(tag, image, step, dataformats="HWC")

    def flush(self) -> None:
        if self.enabled:
            self.writer.flush()
            self.jsonl.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
        self.writer.close()
        self.jsonl.close()


def _truncate_jsonl(path: Path, last_step: int) -> None:
    """Keep the records of steps <= ``last_step`` (rewritten atomically)."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if int(json.loads(line)["step"]) <= last_step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line of an interrupted run
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(k + "\n" for k in kept), encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------------ samples


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _check_sample(out: SampleOutput) -> None:
    for name in ("identity", "truth", "generated"):
        a = getattr(out, name)
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.shape[-1] != 3:
            raise TypeError(f"SampleOutput.{name} must be uint8 RGB (..., H, W, 3)")
    if out.truth.ndim != 5 or out.generated.ndim != 5 or out.identity.ndim != 4:
        raise ValueError("SampleOutput: identity (B,H,W,3), truth/generated (B,T,H,W,3)")


def sample_grid(out: SampleOutput, rows: int, frames: int = 6) -> np.ndarray:
    """One row per item: identity | ``frames`` ground-truth frames | the same generated
    frames (evenly spaced over T), with 2-pixel white gutters. uint8 (H, W, 3)."""
    _check_sample(out)
    n = min(rows, out.identity.shape[0])
    T = min(out.truth.shape[1], out.generated.shape[1])
    picks = np.unique(np.linspace(0, T - 1, min(frames, T)).round().astype(int))
    h, w = out.truth.shape[2:4]
    gutter = 2
    lines = []
    for i in range(n):
        tiles = [_fit(out.identity[i], h, w)]
        tiles += [out.truth[i, t] for t in picks]
        tiles += [_fit(out.generated[i, t], h, w) for t in picks]
        sep = np.full((h, gutter, 3), 255, np.uint8)
        parts = []
        for j, tile in enumerate(tiles):
            parts.append(tile)
            if j + 1 < len(tiles):
                parts.append(sep)
        lines.append(np.concatenate(parts, axis=1))
        if i + 1 < n:
            lines.append(np.full((gutter, lines[-1].shape[1], 3), 255, np.uint8))
    return np.concatenate(lines, axis=0)


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    import cv2

    tmp = f"{path}.tmp.png"
    if not cv2.imwrite(tmp, np.ascontiguousarray(image[:, :, ::-1])):
        raise OSError(f"could not write {path}")
    os.replace(tmp, path)


def write_sample_video(
    path: str | os.PathLike, out: SampleOutput, index: int = 0, crf: int = 20
) -> None:
    """Item ``index`` as H.264 MP4 (identity | truth | generated side by side) with its
    16 kHz audio as AAC, cut to the video's length."""
    import av

    _check_sample(out)
    T = min(out.truth.shape[1], out.generated.shape[1])
    h, w = out.truth.shape[2:4]
    ident = _fit(out.identity[index], h, w)
    frames = [
        np.concatenate([ident, out.truth[index, t], _fit(out.generated[index, t], h, w)], 1)
        for t in range(T)
    ]
    H, W = h + h % 2, 3 * w + (3 * w) % 2  # yuv420p needs even sizes
    tmp = f"{path}.tmp.mp4"
    with av.open(tmp, mode="w", format="mp4") as container:
        vs = container.add_stream("libx264", rate=Fraction(out.fps).limit_denominator(1000))
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        vs.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        audio = None
        if out.audio is not None:
            n = int(round(T / out.fps * AUDIO_RATE))
            audio = np.zeros(n, np.float32)
            clip = np.asarray(out.audio[index], np.float32)[:n]
            audio[: len(clip)] = np.clip(clip, -1.0, 1.0)
            aus = container.add_stream("aac", rate=AUDIO_RATE)
            aus.layout = "mono"
        for f in frames:
            if f.shape[:2] != (H, W):
                f = np.pad(f, ((0, H - f.shape[0]), (0, W - f.shape[1]), (0, 0)))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            container.mux(vs.encode(frame))
        container.mux(vs.encode())
        if audio is not None:
            af = av.AudioFrame.from_ndarray(audio[None, :], format="fltp", layout="mono")
            af.sample_rate = AUDIO_RATE
            af.pts = 0
            container.mux(aus.encode(af))
            container.mux(aus.encode())
    os.replace(tmp, path)


def write_samples(run_dir: str | os.PathLike, step: int, out: SampleOutput, items: int):
    """The step's PNG grid and up to ``items`` MP4s; returns (grid image, written paths)."""
    folder = Path(run_dir) / SAMPLES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    grid = sample_grid(out, items)
    png = folder / f"step-{step:08d}.png"
    write_png(png, grid)
    paths = [png]
    for i in range(min(items, out.identity.shape[0])):
        mp4 = folder / f"step-{step:08d}-{i}.mp4"
        write_sample_video(mp4, out, i)
        paths.append(mp4)
    return grid, paths
