"""Transcripts that must be read right or refused with a reason (issue 19, case 15)."""

from __future__ import annotations

import pytest

from avprep.clip_processor import ClipProcessor
from avprep.clips import ClipRef
from avprep.config import BuildConfig
from avprep.datasets import DiscoverOptions, get_adapter
from avprep.datasets.demo_media import write_talking_clip
from avprep.datasets.transcripts import (
    SidecarError,
    TranscriptEncodingError,
    TranscriptSidecar,
    decode_transcript,
)
from avprep.phonetics.lexicon import normalize_transcript

RUSSIAN = "Привет, как у тебя дела сегодня"


def test_encodings_are_detected_or_refused():
    assert decode_transcript("Café crème, naïve".encode("cp1252"), "t.txt") == "Café crème, naïve"
    assert decode_transcript("\ufeffCafé".encode(), "t.txt") == "Café"  # UTF-8 with a BOM
    with pytest.raises(TranscriptEncodingError, match="t.txt is not UTF-8.*save it as UTF-8"):
        decode_transcript(RUSSIAN.encode("cp1251"), "t.txt")  # reads as mojibake in cp1252
    assert normalize_transcript("Café crème, Straße") == ["cafe", "creme", "strasse"]


def test_folder_transcripts_keep_accents_or_reject_the_clip(tmp_path):
    for name, data in (
        ("latin1", "Café au lait".encode("cp1252")),
        ("cyrillic", RUSSIAN.encode("cp1251")),
    ):
        (tmp_path / f"{name}.mp4").write_bytes(b"")  # discovery does not open the media
        (tmp_path / f"{name}.txt").write_bytes(data)
    refs = {r.source.rsplit("/", 1)[-1]: r for r in get_adapter("folder").iter_clips(
        str(tmp_path), DiscoverOptions())}  # fmt: skip
    assert refs["latin1.mp4"].transcript == "Café au lait" and refs["latin1.mp4"].error is None
    error = refs["cyrillic.mp4"].error
    assert error.reason == "transcript_encoding" and "cyrillic.txt is not UTF-8" in error.detail
    sidecar = tmp_path / "subs.tsv"
    sidecar.write_bytes(f"a/b\t{RUSSIAN}\n".encode("cp1251"))
    with pytest.raises(SidecarError, match="not UTF-8"):
        TranscriptSidecar.load(str(sidecar))


@pytest.fixture(scope="module")
def aligning_processor():
    config = BuildConfig(dataset="folder", root=None, out="unused", aligner="pocketsphinx")
    processor = ClipProcessor(config)
    processor.setup()
    return processor


@pytest.mark.parametrize(
    "transcript, reason, detail",
    [
        (RUSSIAN, "not_english_transcript", "cyrillic letters: not pronounceable English"),
        ("Hello 世界", "not_english_transcript", "cjk letters"),
        (" ".join(["word"] * 300), "transcript_too_long", "300 words for 1.00 s"),
    ],
    ids=["cyrillic", "mixed", "too_long"],
)
def test_transcripts_the_aligner_cannot_use_are_rejected_before_aligning(
    tmp_path, face, speech, aligning_processor, transcript, reason, detail
):
    path = write_talking_clip(tmp_path / "clip.mp4", face, speech.audio[:16000], size=(64, 64))
    ref = ClipRef("k", "folder", "train", str(path), transcript=transcript)
    row, fields = aligning_processor.process(ref)
    assert (row["status"], row["reason"]) == ("rejected", reason), row
    assert detail in row["detail"] and fields is None
