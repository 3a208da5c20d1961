"""``avprep align``: align a folder of audio/video files with same-name ``.txt`` transcripts
and write MFA-compatible TextGrids (tiers ``words`` and ``phones``), mirroring the folder.

A file without a transcript gets recognised labels (:mod:`avprep.phonetics.recognizer`; its
confidence goes into the report) unless ``recognize`` is ``"off"``, in which case it is
listed as without transcript; a clip the aligner or recogniser rejects is listed with its
reason; both go into ``OUT/align_report.json`` so nothing is dropped silently. Clips are
sent to the aligner in batches (MFA aligns one batch per process, one folder per speaker:
the clip's parent folder).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avprep.clips import ClipRejected
from avprep.phonetics.aligner import SAMPLE_RATE, AlignRequest, PhoneAligner
from avprep.phonetics.aligner_backends import make_aligner
from avprep.phonetics.recognizer import PocketSphinxRecognizer, RecognizerConfig
from avprep.phonetics.textgrids import write_textgrid

AUDIO_EXTS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus")
VIDEO_EXTS = (".mp4", ".mkv", ".avi", ".mov", ".mpg", ".mpeg", ".webm", ".flv")


def read_audio_16k(path: str | os.PathLike[str]) -> np.ndarray:
    """The first audio stream of any file PyAV (FFmpeg) opens, as float32 mono 16 kHz.

    Kept small and separate so it can be swapped for ``avprep.media``'s decoder."""
    import av

    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ClipRejected("no_audio", f"{path} has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)



def _rejection(e: ClipRejected) -> dict[str, str]:
    """A rejection as data, the same two fields a build's manifest has (reason, detail)."""
    return {"reason": e.reason, "detail": e.detail}


@dataclass
class FolderReport:
    aligned: list[str] = field(default_factory=list)  # relative paths of media files
    rejected: dict[str, dict[str, str]] = field(default_factory=dict)  # relpath -> {reason, detail}
    no_transcript: list[str] = field(default_factory=list)  # skipped (recognize="off")
    recognized: dict[str, float] = field(default_factory=dict)  # relpath -> confidence
    guessed_words: dict[str, list[str]] = field(default_factory=dict)
    aligner: str = ""
    versions: dict[str, str] = field(default_factory=dict)


def _media_files(root: Path) -> list[Path]:
    exts = AUDIO_EXTS + VIDEO_EXTS
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def align_folder(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    aligner: str | PhoneAligner = "pocketsphinx",
    aligner_options: dict[str, Any] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    batch_size: int = 32,
    recognize: str = "auto",
    recognizer: str = "words",
) -> FolderReport:
    """Align every media file under ``root`` that has ``<same name>.txt`` beside it, and
    recognise the others (``recognize="auto"``); write ``out/<relative path>.TextGrid`` and
    ``out/align_report.json``. ``progress(done, total, relpath)`` is called after each file."""
    if recognize not in ("auto", "off"):
        raise ValueError(f"recognize must be 'auto' or 'off', not {recognize!r}")
    root_p, out_p = Path(root), Path(out)
    if not root_p.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    al = make_aligner(aligner, **(aligner_options or {})) if isinstance(aligner, str) else aligner
    al.setup()
    report = FolderReport(aligner=al.name, versions=al.versions())
    files = _media_files(root_p)
    done = 0
    rec = PocketSphinxRecognizer(RecognizerConfig(method=recognizer))

    def tick(rel: str) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, len(files), rel)

    batch: list[tuple[str, AlignRequest]] = []

    def flush() -> None:
        results = al.align_many([r for _, r in batch])
        for (rel, _), res in zip(batch, results, strict=True):
            if isinstance(res, ClipRejected):
                report.rejected[rel] = _rejection(res)
            else:
                dest = out_p / Path(rel).with_suffix(".TextGrid")
                dest.parent.mkdir(parents=True, exist_ok=True)
                write_textgrid(res, dest)
                report.aligned.append(rel)
                if res.guessed_words:
                    report.guessed_words[rel] = list(res.guessed_words)
            tick(rel)
        batch.clear()

    for path in files:
        rel = path.relative_to(root_p).as_posix()
        txt = path.with_suffix(".txt")
        if not txt.exists() and recognize == "off":
            report.no_transcript.append(rel)
            tick(rel)
            continue
        try:
            audio = read_audio_16k(path)
        except ClipRejected as e:
            report.rejected[rel] = _rejection(e)
            tick(rel)
            continue
        except Exception as e:  # noqa: BLE001 - any undecodable file is a rejection
            why = ClipRejected("corrupt_media", f"{type(e).__name__}: {e}")
            report.rejected[rel] = _rejection(why)
            tick(rel)
            continue
        if not txt.exists():
            try:
                result = rec.recognize(audio)
            except ClipRejected as e:
                report.rejected[rel] = _rejection(e)
            else:
                dest = out_p / Path(rel).with_suffix(".TextGrid")
                dest.parent.mkdir(parents=True, exist_ok=True)
                write_textgrid(result.alignment, dest)
                report.recognized[rel] = result.confidence
            tick(rel)
            continue
        speaker = path.parent.relative_to(root_p).as_posix() or "speaker"
        text = txt.read_text(encoding="utf-8", errors="replace")
        batch.append((rel, AlignRequest(rel, audio, text, speaker)))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    out_p.mkdir(parents=True, exist_ok=True)
    (out_p / "align_report.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report
