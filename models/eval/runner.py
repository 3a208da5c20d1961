"""What each ``avprep eval`` command computes: inputs in, one result dict out (summary, per-clip
rows, clips that could not be measured and why), plus the JSON file and the readable table.

Per-clip failures (unreadable video, sizes that differ, no face) are recorded under
``skipped`` with the reason and never stop the run (when no pair at all can be measured,
the command fails naming why); pairs that differ in length are scored
on their common frames and the trim is recorded (``frames_trimmed``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from models.eval.inputs import list_clips, pair_clips, read_frames, read_video_with_audio


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


# REAL must be what the generator imitates, frame for frame: a source video is neither the
# crop size nor (speech windows need context) the frames of a generated one
SIZE_HINT = (
    "REAL must be the face crops under the generated frames: `avprep generate METHOD --video "
    "SOURCE --real-out REAL.mp4` writes them"
)


def _require_rows(rows: list, skipped: list, real: str, generated: str) -> None:
    """No clip pair measured: an error naming why, not a summary of NaNs."""
    if not rows:
        reasons = "; ".join(f"{s['clip']}: {s['reason']}" for s in skipped[:3])
        raise ValueError(f"no clip of {generated} could be measured against {real}: {reasons}")


def _paired_frames(real: str, generated: str, progress: bool):
    from tqdm import tqdm

    pairs, only_real, only_gen = pair_clips(real, generated)
    if not pairs:
        raise ValueError(f"no clip names in common between {real} and {generated}")
    skipped = [{"clip": n, "reason": "no generated clip of this name"} for n in only_real]
    skipped += [{"clip": n, "reason": "no real clip of this name"} for n in only_gen]

    def gen():
        for name, rs, gs in tqdm(pairs, disable=not progress, desc="clips"):
            try:
                r, g = read_frames(rs), read_frames(gs)
            except ValueError as e:
                skipped.append({"clip": name, "reason": str(e)})
                continue
            if r.shape[1:] != g.shape[1:]:
                skipped.append(
                    {
                        "clip": name,
                        "reason": f"real {r.shape[1:3]} and generated "
                        f"{g.shape[1:3]} frame sizes differ ({SIZE_HINT})",
                    }
                )
                continue
            n = min(len(r), len(g))
            yield name, r[:n], g[:n], abs(len(r) - len(g))

    return gen(), skipped, len(pairs)


def evaluate_quality(real: str, generated: str, progress: bool = True) -> dict[str, Any]:
    """PSNR and SSIM (frames, then clips)."""
    from models.eval.image_quality import clip_psnr_ssim, mean_over_clips

    clips, skipped, n_pairs = _paired_frames(real, generated, progress)
    rows = []
    for name, r, g, trimmed in clips:
        rows.append({"clip": name, **clip_psnr_ssim(r, g), "frames_trimmed": trimmed})
    _require_rows(rows, skipped, real, generated)
    return _result(
        "quality", real, generated, mean_over_clips(rows, ("psnr", "ssim")), rows, skipped, n_pairs
    )


def evaluate_movement(real: str, generated: str, progress: bool = True) -> dict[str, Any]:
    """CRAN Fig. 5: Farneback movement intensity of real and generated clips, and their ratio
    (generated / real; below 1 = a generator that moves less than the speaker)."""
    from models.eval.image_quality import mean_over_clips
    from models.eval.motion import movement_intensity

    clips, skipped, n_pairs = _paired_frames(real, generated, progress)
    rows = []
    for name, r, g, trimmed in clips:
        if len(r) < 2:
            skipped.append({"clip": name, "reason": "fewer than 2 frames in common"})
            continue
        if r.ndim == 3:  # grey frames -> RGB, as the flow reads grey anyway
            r, g = np.repeat(r[..., None], 3, -1), np.repeat(g[..., None], 3, -1)
        mr, mg = movement_intensity(r), movement_intensity(g)
        ratio = mg / mr if mr > 0 else float("nan")
        rows.append(
            {"clip": name, "real": mr, "generated": mg, "ratio": ratio, "frames_trimmed": trimmed}
        )
    _require_rows(rows, skipped, real, generated)
    summary = mean_over_clips(rows, ("real", "generated", "ratio"))
    return _result("movement", real, generated, summary, rows, skipped, n_pairs)


def evaluate_lmd(
    real: str,
    generated: str,
    backend: str = "dlib",
    fan_weights: str | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """LMD over mouth landmarks from avprep's face backends."""
    from models.eval.landmark_distance import CropLandmarker, clip_lmd, lmd_over_clips

    landmarker = CropLandmarker(backend, fan_weights=fan_weights, device=device)
    landmarker.setup()  # a missing model file fails here, before any clip is read
    clips, skipped, n_pairs = _paired_frames(real, generated, progress)
    rows = [
        {"clip": name, **clip_lmd(r, g, landmarker), "frames_trimmed": trimmed}
        for name, r, g, trimmed in clips
    ]
    _require_rows(rows, skipped, real, generated)
    out = _result("lmd", real, generated, lmd_over_clips(rows), rows, skipped, n_pairs)
    out["versions"] = landmarker.versions()
    return out


def evaluate_fid(
    real: str,
    generated: str,
    weights: str | None = None,
    device: str = "auto",
    batch_size: int = 64,
    progress: bool = True,
) -> dict[str, Any]:
    """FID of all generated frames against all real frames (clips need not pair)."""
    from tqdm import tqdm

    from models.eval.fid import FrameFid

    fid = FrameFid(weights, resolve_device(device), batch_size)
    counts = {}
    skipped = []
    for side, path in (("real", real), ("generated", generated)):
        n = 0
        for src in tqdm(list_clips(path).values(), disable=not progress, desc=side):
            try:
                frames = read_frames(src)
            except ValueError as e:
                skipped.append({"clip": f"{side}:{src.name}", "reason": str(e)})
                continue
            fid.update(frames, real=side == "real")
            n += len(frames)
        counts[f"{side}_frames"] = n
    if min(counts.values()) < 2:
        raise ValueError(f"FID needs at least two frames on each side, got {counts}")
    summary = {"fid": fid.compute(), **counts}
    out = _result("fid", real, generated, summary, [], skipped, None)
    out["versions"] = {"inception_weights": fid.weights}
    return out


def evaluate_sync(
    videos: str,
    weights: str | None = None,
    crop: str = "resize",
    vshift: int = 15,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """LSE-C / LSE-D of each video with its own soundtrack, and their means."""
    from tqdm import tqdm

    from models.eval.syncnet import load_syncnet, lse_over_videos, lse_scores

    net = load_syncnet(weights, resolve_device(device))
    rows, skipped = [], []
    for src in tqdm(list_clips(videos).values(), disable=not progress, desc="videos"):
        try:
            frames, audio = read_video_with_audio(src)
            rows.append({"clip": src.name, **lse_scores(net, frames, audio, crop, vshift)})
        except ValueError as e:
            skipped.append({"clip": src.name, "reason": str(e)})
    if not rows:
        raise ValueError(f"no video under {videos} could be measured: {skipped[:3]}")
    out = _result("sync", None, videos, lse_over_videos(rows), rows, skipped, None)
    out["settings"] = {"crop": crop, "vshift": vshift}
    return out


def _load_npz(path: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in keys if k in z.files}


def evaluate_lipreading(path: str) -> dict[str, Any]:
    """Top-1 accuracies from an .npz of ``labels`` and any of ``video_logits``,
    ``audio_logits``, ``combined_logits``."""
    from models.eval.recognition import lip_reading_accuracy

    z = _load_npz(path, ("labels", "video_logits", "audio_logits", "combined_logits"))
    if "labels" not in z:
        raise ValueError(f"{path} has no 'labels' array")
    summary = lip_reading_accuracy(
        z["labels"], z.get("video_logits"), z.get("audio_logits"), z.get("combined_logits")
    )
    return _result("lipreading", None, path, summary, [], [], None)


def evaluate_retrieval(path: str, chunk: int = 2048, device: str = "auto") -> dict[str, Any]:
    """Retrieval from an .npz of row-aligned ``audio`` and ``video`` embeddings."""
    from models.eval.retrieval import retrieval_metrics

    z = _load_npz(path, ("audio", "video"))
    if set(z) != {"audio", "video"}:
        raise ValueError(f"{path} needs 'audio' and 'video' arrays (N, D), row i = clip i")
    summary = retrieval_metrics(z["audio"], z["video"], chunk, resolve_device(device))
    return _result("retrieval", None, path, summary, [], [], None)


def evaluate_word_information(
    path: str, test_fraction: float = 0.2, test_path: str | None = None
) -> dict[str, Any]:
    """Word accuracy of a linear SVM on identity features from an .npz: ``features`` and
    ``words`` (split here), or ``train_features``/``train_words``/``test_features``/
    ``test_words``; with ``test_path``, trained on ``path``'s ``features``/``words`` and
    scored on ``test_path``'s (e.g. two splits' ``avprep eval davs-features`` exports)."""
    from models.eval.word_information import word_information_in_pid, word_information_split

    keys = ("features", "words", "train_features", "train_words", "test_features", "test_words")
    z = _load_npz(path, keys)
    if test_path is not None:
        t = _load_npz(test_path, keys)
        for name, arrays in ((path, z), (test_path, t)):
            if not {"features", "words"} <= set(arrays):
                raise ValueError(f"{name} needs 'features' and 'words' arrays")
        summary = word_information_in_pid(z["features"], z["words"], t["features"], t["words"])
        out = _result("word-info", None, path, summary, [], [], None)
        out["inputs"]["test"] = str(test_path)
        return out
    if {"train_features", "train_words", "test_features", "test_words"} <= set(z):
        summary = word_information_in_pid(
            z["train_features"], z["train_words"], z["test_features"], z["test_words"]
        )
    elif {"features", "words"} <= set(z):
        summary = word_information_split(z["features"], z["words"], test_fraction)
    else:
        raise ValueError(f"{path} needs 'features' and 'words' (or train_/test_ pairs)")
    return _result("word-info", None, path, summary, [], [], None)


def _result(measure, real, generated, summary, rows, skipped, n_pairs) -> dict[str, Any]:
    out: dict[str, Any] = {"measure": measure, "inputs": {}}
    if real is not None:
        out["inputs"]["real"] = str(real)
    out["inputs"]["generated" if real is not None else "input"] = str(generated)
    if n_pairs is not None:
        out["inputs"]["pairs"] = n_pairs
    out["summary"] = summary
    out["clips"] = rows
    out["skipped"] = skipped
    return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)  # "inf", "nan": JSON has no such numbers
    return x


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(_jsonable(result), indent=2) + "\n")
    return p


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


def format_table(result: dict[str, Any], max_rows: int = 20) -> str:
    """The summary as aligned ``name  value`` lines, then up to ``max_rows`` clips."""
    lines = [f"avprep eval {result['measure']}"]
    for k, v in result["inputs"].items():
        lines.append(f"  {k}: {v}")
    width = max(len(k) for k in result["summary"])
    lines += [f"  {k.ljust(width)}  {_fmt(v)}" for k, v in result["summary"].items()]
    rows = result.get("clips") or []
    if rows:
        cols = [c for c in rows[0] if c != "clip"]
        name_w = min(40, max(len("clip"), *(len(r["clip"]) for r in rows)))
        lines.append("")
        lines.append("  " + "clip".ljust(name_w) + "".join(f"  {c:>14}" for c in cols))
        for r in rows[:max_rows]:
            lines.append(
                "  "
                + r["clip"][:name_w].ljust(name_w)
                + "".join(f"  {_fmt(r.get(c)):>14}" for c in cols)
            )
        if len(rows) > max_rows:
            lines.append(f"  ... {len(rows) - max_rows} more clips in the JSON")
    for s in result.get("skipped") or []:
        lines.append(f"  skipped {s['clip']}: {s['reason']}")
    return "\n".join(lines)
