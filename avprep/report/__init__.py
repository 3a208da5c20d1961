"""``avprep report``: one self-contained HTML page that shows a build before training on it.

Sections: yield (status and rejection reasons, per split and speaker, durations, good frames),
faces (contact sheet, mean face, head pose), audio (feature tracks under the video frames on
one time axis, noisy copies), phonetics (phone and viseme histograms, label confidence), and
the build's configuration and versions. Images are PNG/JPEG data URIs and the page declares a
Content-Security-Policy that forbids every fetch, so it opens offline and cannot reach out.

Cost: the manifest is read column-wise (whole build), and only the shards holding the
``samples`` randomly drawn clips are read (:mod:`avprep.report.sampling`).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import avprep
from avprep import storage
from avprep.build_layout import BuildLayout
from avprep.report.manifest_stats import (
    SPEAKER_TABLE_MAX,
    ManifestStats,
    read_manifest,
    summarize_manifest,
)
from avprep.report.sampling import SampledStats, choose_samples, sample_shards

log = logging.getLogger(__name__)

DEFAULT_SAMPLES = 12


@dataclass
class ReportResult:
    path: str
    seconds: float
    manifest_seconds: float
    shards_read: int
    samples_read: int
    errors: list[str]


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for k in sorted(d):
        v = d[k]
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            rows += _flatten(v, name + ".")
        else:
            rows.append((name, json.dumps(v) if not isinstance(v, str) else v))
    return rows


def _stage_notes(config: dict[str, Any], sampled: SampledStats) -> dict[str, str]:
    """What is missing from the build and which build option makes it, per section."""
    notes = {}
    if config.get("face_backend") == "none":
        notes["faces"] = (
            "The face stage did not run: this build used --face-backend none, so its samples "
            "hold downscaled full frames only (no crops, landmarks, head pose or good-frame "
            "counts). Build with --face-backend dlib (or fan) to get them."
        )
    elif sampled.samples_read and not sampled.with_face:
        notes["faces"] = "No sampled clip holds face crops: " + sampled.missing.get(
            "crop256", "the face stage writes them (--face-backend dlib or fan)"
        )
    if not config.get("features"):
        notes["audio"] = (
            "No audio feature tracks: this build used --features none. Build with e.g. "
            "--features mfcc_davs,mfcc_syncnet,mfcc_cran,logspec_dvae to store them."
        )
    if not config.get("noise_levels_db"):
        notes["noise"] = (
            "No noisy copies: build with --noise-db -60 --noise-db -30 --noise-db -10 "
            "(DVAE's levels) to store feature tracks of the audio with white noise."
        )
    if config.get("aligner") == "none":
        notes["phonetics"] = (
            "The phonetics stage did not run: this build used --aligner none, so there are "
            "no phone or viseme labels. Build with --aligner pocketsphinx (or mfa) and "
            "transcripts (--transcripts for corpora without them)."
        )
    return notes


def _images(ms: ManifestStats, sampled: SampledStats) -> dict[str, Any]:
    """Every plot the page shows. A histogram of one value (a one-clip build) is left out:
    the page states that value instead, and each plot costs ~0.1 s (matplotlib's layout)."""
    from avprep.report import figures, images

    out: dict[str, Any] = {
        "status": data_uri(figures.status_png(ms.n_ok, ms.by_reason)),
        "splits": data_uri(figures.groups_png(ms.by_split, list(ms.by_reason), "split")),
    }
    if len(ms.duration_ok) + len(ms.duration_rejected) > 1:
        out["durations"] = data_uri(figures.durations_png(ms.duration_ok, ms.duration_rejected))
    if ms.by_speaker:
        if len(ms.by_speaker) <= SPEAKER_TABLE_MAX:
            out["speakers"] = data_uri(
                figures.groups_png(ms.by_speaker, list(ms.by_reason), "speaker")
            )
        else:
            out["speakers"] = data_uri(figures.speaker_yield_png(ms.by_speaker))
    if len(ms.good_run_fraction) > 1 or len(sampled.good_frame_fraction) > 1:
        out["good_frames"] = data_uri(
            figures.good_frames_png(
                sampled.good_frame_fraction, ms.good_run_fraction, ms.good_run_frames
            )
        )
    out["sheet"] = [
        (row, data_uri(images.encode(images.sheet_row_image(row), "jpeg"), "image/jpeg"))
        for row in sampled.sheet
    ]
    mean = images.mean_face_image(sampled.mean_face)
    if mean is not None:
        out["mean_face"] = data_uri(images.encode(mean, "png"))
    if sampled.poses:
        out["pose"] = data_uri(figures.pose_png(sampled.pose_array(), sampled.pose_limits))
    if sampled.audio_sample is not None:
        png, info = figures.timeline_png(sampled.audio_sample)
        out["timeline"], out["timeline_info"] = data_uri(png), info
        noise = figures.noise_png(sampled.audio_sample)
        if noise is not None:
            out["noise"] = data_uri(noise)
    if ms.n_with_phones:
        out["phones"] = data_uri(figures.phones_png(ms.phone_counts, ms.n_with_phones))
        out["visemes"] = data_uri(figures.visemes_png(ms.viseme_counts, ms.n_with_phones))
    if ms.label_confidence is not None and len(ms.label_confidence) > 1:
        out["confidence"] = data_uri(figures.confidence_png(ms.label_confidence))
    return out


def render_report(
    build_dir: str, samples: int = DEFAULT_SAMPLES, seed: int = 0, mean_face_clips: int = 64
) -> tuple[str, dict[str, Any]]:
    """The report page of ``build_dir`` as an HTML string, and the numbers it shows."""
    from avprep.report.page import render_page

    t0 = time.perf_counter()
    info_path = BuildLayout(build_dir).build_info
    if not storage.exists(info_path):
        raise FileNotFoundError(
            f"{info_path} not found: not a finished avprep build (run `avprep build` first)"
        )
    info = json.loads(storage.read_text(info_path))
    ms = summarize_manifest(read_manifest(build_dir))
    t_manifest = time.perf_counter() - t0
    chosen = choose_samples(ms.ok_rows, samples, seed)
    sampled = sample_shards(build_dir, chosen, samples, mean_face_clips)
    config = info.get("config") or {}
    context = {
        "build_dir": build_dir,
        "info": info,
        "config_rows": _flatten(config),
        "version_rows": sorted((info.get("versions") or {}).items()),
        "counts_rows": _flatten(info.get("counts") or {}),
        "ms": ms,
        "sampled": sampled,
        "notes": _stage_notes(config, sampled),
        "img": _images(ms, sampled),
        "speaker_table_max": SPEAKER_TABLE_MAX,
        "params": {"samples": samples, "seed": seed, "mean_face_clips": mean_face_clips},
        "avprep_version": avprep.__version__,
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    context["report_seconds"] = time.perf_counter() - t0
    context["manifest_seconds"] = t_manifest
    return render_page(context), context


def write_report(
    build_dir: str,
    out: str | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    mean_face_clips: int = 64,
) -> ReportResult:
    """Render the report of ``build_dir`` and write it (default ``BUILD/report.html``)."""
    t0 = time.perf_counter()
    html, ctx = render_report(build_dir, samples, seed, mean_face_clips)
    path = out or BuildLayout(build_dir).report
    storage.write_text(path, html)
    sampled: SampledStats = ctx["sampled"]
    return ReportResult(
        path,
        time.perf_counter() - t0,
        ctx["manifest_seconds"],
        len(sampled.shards_read),
        sampled.samples_read,
        sampled.errors,
    )


__all__ = ["DEFAULT_SAMPLES", "ReportResult", "render_report", "write_report"]
