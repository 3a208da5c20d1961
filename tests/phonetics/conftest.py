"""Shared fixtures: real recorded speech with independent reference timings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from avprep.phonetics.pocketsphinx_aligner import PocketSphinxAligner

REPO = Path(__file__).resolve().parents[2]
PRAATIO = REPO / "tests" / "data" / "praatio"
SPEECH = REPO / "avprep" / "data" / "speech"
LIBRIVOX = ("0880", "0890", "0930")


def load_16k(path: Path) -> np.ndarray:
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    if sr != 16000:
        audio = soxr.resample(audio, sr, 16000).astype(np.float32)
    return audio


@pytest.fixture(scope="session")
def ps_aligner() -> PocketSphinxAligner:
    al = PocketSphinxAligner()
    al.setup()
    return al


@pytest.fixture(scope="session")
def librivox() -> dict[str, tuple[np.ndarray, str]]:
    return {
        n: (
            load_16k(SPEECH / f"librivox_ss01_{n}.wav"),
            (SPEECH / f"librivox_ss01_{n}.txt").read_text().strip(),
        )
        for n in LIBRIVOX
    }


@pytest.fixture(scope="session")
def load_audio():
    """``load_audio(path)`` -> float32 mono 16 kHz (soxr resampling)."""
    return load_16k
