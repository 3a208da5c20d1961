"""A clip's labels must not depend on which clips the same decoder handled before it.

pocketsphinx's front end keeps state across utterances (noise estimates, cepstral mean); before
the fix, aligning librivox 0880 after 0890 gave other phone boundaries than on a fresh decoder,
so a build's bytes depended on how clips were spread over workers."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import soundfile as sf

from avprep.phonetics.pocketsphinx_aligner import PocketSphinxAligner
from avprep.phonetics.recognizer import PocketSphinxRecognizer

SPEECH = Path(__file__).resolve().parents[2] / "avprep" / "data" / "speech"
CLIPS = sorted(SPEECH.glob("librivox_ss01_*.wav"))


def _audio(path: Path):
    return sf.read(path, dtype="float32")[0]


def _text(path: Path) -> str:
    return path.with_suffix(".txt").read_text()


@pytest.mark.parametrize("first,second", list(itertools.permutations(CLIPS, 2)))
def test_alignment_does_not_depend_on_earlier_clips(first: Path, second: Path) -> None:
    fresh = PocketSphinxAligner().align(_audio(second), _text(second))
    used = PocketSphinxAligner()
    used.align(_audio(first), _text(first))
    assert used.align(_audio(second), _text(second)).phones == fresh.phones


def test_recognition_does_not_depend_on_earlier_clips() -> None:
    first, second = CLIPS[1], CLIPS[0]
    fresh = PocketSphinxRecognizer().recognize(_audio(second))
    used = PocketSphinxRecognizer()
    used.recognize(_audio(first))
    again = used.recognize(_audio(second))
    assert again.alignment.phones == fresh.alignment.phones
    assert (again.hypothesis, again.confidence) == (fresh.hypothesis, fresh.confidence)
