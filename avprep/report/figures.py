"""The report's plots (matplotlib, Agg canvas, no pyplot), each returned as PNG bytes.

Like :mod:`avprep.selection_plot`, figures are built on ``Figure`` + ``FigureCanvasAgg``
directly, so nothing switches a global backend and it all works headless.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from avprep.phonetics.phoneset import PHONES
from avprep.phonetics.visemes import VISEMES
from avprep.reader import ShardSample
from avprep.report.manifest_stats import GroupYield
from avprep.selection_plot import figure_png

OK_COLOR = "#55A868"
REASON_COLORS = (
    "#C44E52",
    "#DD8452",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
    "#4C72B0",
    "#B55D60",
)
TIMELINE_MAX_SECONDS = 6.0  # the audio/video timeline shows at most this much of the clip


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def status_png(n_ok: int, by_reason: dict[str, int]) -> bytes:
    """Horizontal bars: written clips, then each rejection reason (most frequent first)."""
    labels = ["ok (written)", *by_reason]
    values = [n_ok, *by_reason.values()]
    colors = [OK_COLOR] + [REASON_COLORS[i % len(REASON_COLORS)] for i in range(len(by_reason))]
    fig = _figure(8, 0.9 + 0.35 * len(labels))
    ax = fig.add_subplot()
    y = np.arange(len(labels))
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    for yi, v in zip(y, values, strict=True):
        ax.text(v, yi, f" {v:,}", va="center", fontsize=9)
    ax.set_xlabel("clips")
    ax.set_xlim(0, max(values) * 1.15 or 1)
    ax.set_title("clips by status and rejection reason")
    return figure_png(fig)


def groups_png(groups: Sequence[GroupYield], reasons: Sequence[str], what: str) -> bytes:
    """Stacked horizontal bars per split/speaker: ok, then each rejection reason."""
    fig = _figure(8, 1.1 + 0.3 * len(groups))
    ax = fig.add_subplot()
    y = np.arange(len(groups))
    left = np.array([g.ok for g in groups], dtype=float)
    ax.barh(y, left, color=OK_COLOR, label="ok")
    for i, reason in enumerate(reasons):
        vals = np.array([g.by_reason.get(reason, 0) for g in groups], dtype=float)
        if vals.any():
            color = REASON_COLORS[i % len(REASON_COLORS)]
            ax.barh(y, vals, left=left, color=color, label=reason)
            left += vals
    ax.set_yticks(y, [g.name for g in groups], fontsize=8 if len(groups) > 12 else 10)
    ax.invert_yaxis()
    ax.set_xlabel("clips")
    ax.set_title(f"clips per {what}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return figure_png(fig)


def _hist(ax, values: np.ndarray, bins, color: str, label: str | None = None) -> None:
    if len(values):
        ax.hist(values, bins=bins, color=color, alpha=0.85, label=label)
    else:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)


def speaker_yield_png(groups: Sequence[GroupYield]) -> bytes:
    """Histogram of the per-speaker fraction of clips written (for corpora with many)."""
    fig = _figure(8, 3)
    ax = fig.add_subplot()
    _hist(ax, np.array([g.ok_fraction for g in groups]), np.linspace(0, 1, 21), OK_COLOR)
    ax.set_xlabel("fraction of the speaker's clips written")
    ax.set_ylabel("speakers")
    ax.set_title(f"yield per speaker ({len(groups):,} speakers)")
    return figure_png(fig)


def durations_png(ok: np.ndarray, rejected: np.ndarray) -> bytes:
    """Clip-duration histogram, written and rejected clips stacked."""
    fig = _figure(8, 3)
    ax = fig.add_subplot()
    both = np.concatenate([ok, rejected])
    if len(both):
        hi = float(np.percentile(both, 99.5)) if len(both) > 200 else float(both.max())
        bins = np.linspace(0, max(hi, 0.04) * 1.02, 41)
        data = [np.clip(ok, 0, bins[-1]), np.clip(rejected, 0, bins[-1])]
        ax.hist(
            data,
            bins=bins,
            stacked=True,
            color=[OK_COLOR, REASON_COLORS[0]],
            label=[f"ok ({len(ok):,})", f"rejected ({len(rejected):,} with a duration)"],
        )
        ax.legend(fontsize=9)
    else:
        ax.text(0.5, 0.5, "no durations", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("clip duration (s)")
    ax.set_ylabel("clips")
    ax.set_title("clip durations")
    return figure_png(fig)


def good_frames_png(
    good_fraction: Sequence[float], run_fraction: np.ndarray, run_frames: np.ndarray
) -> bytes:
    """Good-frame fraction (sampled clips) and longest good run (every written clip)."""
    fig = _figure(12, 3)
    axes = fig.subplots(1, 3)
    bins = np.linspace(0, 1, 21)
    _hist(axes[0], np.asarray(good_fraction, float), bins, "#4C72B0")
    axes[0].set_xlabel("good frames / frames")
    axes[0].set_title(f"good-frame fraction ({len(good_fraction):,} sampled clips)")
    _hist(axes[1], run_fraction, bins, "#4C72B0")
    axes[1].set_xlabel("longest good run / frames")
    axes[1].set_title(f"longest good run ({len(run_fraction):,} clips)")
    _hist(axes[2], run_frames, 30, "#4C72B0")
    axes[2].set_xlabel("longest good run (frames at 25 fps)")
    axes[2].set_title("longest good run, frames")
    axes[0].set_ylabel("clips")
    return figure_png(fig)


def pose_png(poses: np.ndarray, limits: dict[str, float]) -> bytes:
    """Yaw, pitch and roll histograms of every face frame read, with the build's limits."""
    fig = _figure(12, 3)
    axes = fig.subplots(1, 3)
    for j, (ax, name) in enumerate(zip(axes, ("yaw", "pitch", "roll"), strict=True)):
        vals = poses[:, j] if len(poses) else np.zeros(0)
        lim = limits.get(name)
        span = max(lim * 1.3 if lim else 0.0, float(np.abs(vals).max()) if len(vals) else 1.0)
        _hist(ax, vals, np.linspace(-span, span, 41), "#8172B3")
        if lim:
            for x in (-lim, lim):
                ax.axvline(x, color="0.3", linestyle="--", linewidth=1)
        ax.set_xlabel(f"{name} (degrees)")
        ax.set_title(f"{name} ({len(vals):,} frames)" + (f", limit ±{lim:g}" if lim else ""))
    axes[0].set_ylabel("frames")
    return figure_png(fig)


def bars_png(
    labels: Sequence[str], counts: np.ndarray, title: str, xlabel: str, color: str
) -> bytes:
    """One bar per label with the uniform level dashed, like CRAN's Fig. 3 panels."""
    fig = _figure(13, 3.4)
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    ax.bar(x, counts, width=0.8, color=color)
    total = float(np.sum(counts))
    if total > 0:
        ax.axhline(total / len(labels), color="0.3", linestyle="--", linewidth=1, label="uniform")
        ax.legend(loc="upper right", fontsize=9)
    ax.set_xticks(x, labels, fontsize=8, rotation=90 if max(map(len, labels)) > 3 else 0)
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("occurrences")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return figure_png(fig)


def phones_png(counts: np.ndarray, n_clips: int) -> bytes:
    return bars_png(
        PHONES,
        counts,
        f"phone histogram over {n_clips:,} written clips ({int(counts.sum()):,} phones)",
        "phone (ARPAbet)",
        "#4C72B0",
    )


def visemes_png(counts: np.ndarray, n_clips: int) -> bytes:
    labels, vals = list(VISEMES[1:]), counts[1:]  # phone_hist has no silence
    return bars_png(
        labels,
        vals,
        f"viseme histogram over {n_clips:,} written clips (phone occurrences by viseme group)",
        "viseme (VisemeNet)",
        "#DD8452",
    )


def confidence_png(confidence: np.ndarray) -> bytes:
    fig = _figure(8, 3)
    ax = fig.add_subplot()
    _hist(ax, confidence, np.linspace(0, 1, 21), "#937860")
    ax.set_xlabel("label confidence")
    ax.set_ylabel("clips")
    ax.set_title(f"alignment / recognition confidence ({len(confidence):,} clips)")
    return figure_png(fig)


# ------------------------------------------------------------------ audio against video


def clean_tracks(sample: ShardSample) -> list[str]:
    """Feature tracks of the clean audio, in the order the build stored them."""
    entries = sample.meta.get("audio_features") or {}
    return [n for n, e in entries.items() if e.get("noise_db") is None and sample.has_array(n)]


def noise_copies(sample: ShardSample, track: str) -> list[str]:
    entries = sample.meta.get("audio_features") or {}
    found = [
        (float(e["noise_db"]), n)
        for n, e in entries.items()
        if e.get("noise_db") is not None
        and sample.has_array(n)
        and (e.get("source_feature") or (e.get("config") or {}).get("name")) == track
    ]
    return [n for _, n in sorted(found, reverse=True)]  # cleanest copy first


def _track_extent(sample: ShardSample, name: str) -> tuple[np.ndarray, tuple[float, ...], float]:
    """Track array, its imshow extent in seconds (steps on x), and seconds per step."""
    arr = sample.array(name)
    t = sample.track_entry(name)["timing"]
    sr, hop = float(t["sample_rate"]), float(t["hop_length"])
    t0 = float(t["first_start"]) / sr
    return arr, (t0, t0 + len(arr) * hop / sr, 0, arr.shape[1]), hop / sr


def _frame_stream(sample: ShardSample) -> str | None:
    for stream in ("mouth", "crop256", "frames"):
        try:
            sample.stream_format(stream)
            return stream
        except KeyError:
            continue
    return None


def timeline_png(sample: ShardSample, width_in: float = 13.0) -> tuple[bytes, dict[str, str]]:
    """Waveform, phones, every clean feature track and the video frames on one time axis.

    One frame (a third into the shown span) is marked: its time in every panel (solid line)
    and its window on each track (shaded), so a window that sits off its frame shows."""
    fps, n = sample.fps, sample.n_frames
    shown = min(n / fps, TIMELINE_MAX_SECONDS)
    n_shown = min(n, int(math.ceil(shown * fps)))
    mark = n_shown // 3
    tracks = clean_tracks(sample)
    stream = _frame_stream(sample)
    heights = [1.0, 0.45] + [1.3] * len(tracks) + ([0.65] if stream else [])
    fig = _figure(width_in, 0.9 * sum(heights) + 0.8)
    axes = fig.subplots(len(heights), 1, sharex=True, height_ratios=heights)
    info = {
        "clip": sample.key,
        "shown": f"0 to {shown:.2f} s of {n / fps:.2f} s",
        "marked frame": f"{mark} (t = {mark / fps:.2f} s)",
    }
    audio = sample.audio()
    sr = float(sample.meta.get("sample_rate", 16000))
    t = np.arange(len(audio)) / sr
    keep = t <= shown
    axes[0].plot(t[keep], audio[keep], color="0.25", linewidth=0.4)
    axes[0].set_ylabel("audio", rotation=0, ha="right")
    phones = (sample.meta.get("phonetics") or {}).get("phones") or []
    ax = axes[1]
    for i, (start, end, phone) in enumerate(phones):
        if start >= shown:
            break
        if phone == "SIL":
            continue
        ax.axvspan(start, end, color=REASON_COLORS[i % len(REASON_COLORS)], alpha=0.35, lw=0)
        ax.text((start + min(end, shown)) / 2, 0.5, phone, ha="center", va="center", fontsize=7)
    ax.set_yticks([])
    ax.set_ylabel("phones", rotation=0, ha="right")
    if not phones:
        ax.text(
            0.5,
            0.5,
            "no phone alignment in this sample",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=8,
        )
    for ax, name in zip(axes[2 : 2 + len(tracks)], tracks, strict=True):
        arr, extent, step_s = _track_extent(sample, name)
        ax.imshow(
            arr.T,
            origin="lower",
            aspect="auto",
            extent=extent,
            cmap="magma",
            interpolation="nearest",
        )
        ax.set_ylabel(f"{name}\n({arr.shape[1]} dims)", rotation=0, ha="right", fontsize=8)
        try:
            fw = sample.windows(name)
            win = sample.track_entry(name)["window"]
            timing = sample.track_entry(name)["timing"]
            start = extent[0] + int(fw.starts[mark]) * step_s
            end = start + (int(win["width_steps"]) - 1) * step_s
            end += float(timing["win_length"]) / float(timing["sample_rate"])
            ax.axvspan(start, end, facecolor="none", edgecolor="#00E5FF", lw=1.6)
            info[f"{name} window"] = f"{start:+.3f} to {end:+.3f} s"
        except (KeyError, ValueError) as e:
            info[f"{name} window"] = f"not available: {e}"
    if stream:
        ax = axes[-1]
        # thumbnails about 0.45 inch wide: every k-th frame, phase chosen to include `mark`
        k = max(1, math.ceil(0.45 * fps * shown / width_in))
        idx = list(range(mark % k, n_shown, k))
        frames = sample.frames(stream, idx)
        for i, img in zip(idx, frames, strict=True):
            ax.imshow(img, extent=(i / fps, (i + k) / fps, 0, 1), aspect="auto")
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_ylabel(
            f"{stream}\n(every {k}th frame)" if k > 1 else stream,
            rotation=0,
            ha="right",
            fontsize=8,
        )
        ax.axvspan(mark / fps, (mark + k) / fps, facecolor="none", edgecolor="#00E5FF", lw=2)
        info["frames"] = f"{stream}, frame i drawn from i/fps to (i+{k})/fps"
    for ax in axes:
        ax.axvline(mark / fps, color="#00E5FF", linewidth=1)
    axes[-1].set_xlim(0, shown)
    axes[-1].set_xlabel("time (s)")
    return figure_png(fig), info


def noise_png(sample: ShardSample, span_s: float = TIMELINE_MAX_SECONDS) -> bytes | None:
    """Each clean track beside its noisy copies (same colour scale per row)."""
    rows = [(t, noise_copies(sample, t)) for t in clean_tracks(sample)]
    rows = [(t, copies) for t, copies in rows if copies]
    if not rows:
        return None
    cols = 1 + max(len(c) for _, c in rows)
    fig = _figure(3.6 * cols, 2.0 * len(rows) + 0.4)
    axes = np.atleast_2d(fig.subplots(len(rows), cols, squeeze=False))
    for r, (track, copies) in enumerate(rows):
        clean, extent, _ = _track_extent(sample, track)
        vmin, vmax = np.percentile(clean, [1, 99])
        for c in range(cols):
            ax = axes[r, c]
            if c > len(copies):
                ax.axis("off")
                continue
            name = track if c == 0 else copies[c - 1]
            arr, ext, _ = _track_extent(sample, name)
            ax.imshow(
                arr.T,
                origin="lower",
                aspect="auto",
                extent=ext,
                cmap="magma",
                vmin=vmin,
                vmax=vmax,
                interpolation="nearest",
            )
            ax.set_xlim(0, min(span_s, ext[1]))
            ax.set_title(name if c else f"{name} (clean)", fontsize=9)
            ax.tick_params(labelsize=7)
        axes[r, 0].set_ylabel("dims")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    return figure_png(fig)
