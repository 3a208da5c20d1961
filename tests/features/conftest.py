"""Fixtures for the audio-feature tests: the bundled LibriVox speech."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pytest
import soundfile as sf

SR = 16000


def load_speech(stem: str) -> np.ndarray:
    path = files("avprep") / "data" / "speech" / f"{stem}.wav"
    audio, sr = sf.read(str(path), dtype="float32")
    assert sr == SR and audio.ndim == 1
    return audio


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    """5.3 s of real read speech (LibriVox, public domain), 16 kHz float32 mono."""
    return load_speech("librivox_ss01_0890")


@pytest.fixture(scope="session")
def speech_clips() -> list[np.ndarray]:
    return [load_speech(s) for s in ("librivox_ss01_0880", "librivox_ss01_0890",
                                     "librivox_ss01_0930")]

