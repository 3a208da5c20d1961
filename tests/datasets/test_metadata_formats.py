"""Parsers of the corpora's own metadata formats, checked on hand-worked examples."""

from __future__ import annotations

import pytest

from avprep.datasets.cremad import EMOTIONS, SENTENCES, parse_name
from avprep.datasets.grid import parse_align, sentence_from_code, speaker_of
from avprep.datasets.lrs3 import parse_lrs3_txt
from avprep.datasets.lrw import CLIP_SECONDS, parse_lrw_txt, word_span
from avprep.datasets.tcdtimit import TEST_VOLUNTEERS, _parse_path, bundled_prompts, parse_prompts
from avprep.datasets.voxceleb import clip_id, default_split, parse_iden_split, version_of

# ---------------------------------------------------------------- LRW


def test_lrw_word_span_is_centred_in_the_29_frame_clip():
    assert CLIP_SECONDS == pytest.approx(1.16)
    # 0.47 s centred on 0.58 s: 0.58 -/+ 0.235
    assert word_span(0.47) == [0.345, 0.815]
    assert word_span(1.16) == [0.0, 1.16]
    assert word_span(2.0) == [0.0, 1.16]  # clipped to the clip


def test_lrw_txt_duration_and_text():
    text = "Text:  ABOUT\nConf:  4\nDuration: 0.47 seconds\n"
    assert parse_lrw_txt(text, "ABOUT") == (0.47, "ABOUT")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Text:  ABOUT\nConf:  4\n", "no 'Duration"),
        ("Text:  ABOUT\nDuration: soon seconds\n", "not a number"),
        ("Text:  ABOUT\nDuration: 0 seconds\n", "not a word length"),
        ("Text:  ABSOLUTELY\nDuration: 0.4 seconds\n", "does not match"),
    ],
)
def test_lrw_txt_malformed(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_lrw_txt(text, "ABOUT")


# ---------------------------------------------------------------- GRID

ALIGN = """0 23750 sil
23750 29500 bin
29500 34000 blue
34000 35500 sp
35500 41000 at
41000 47250 f
47250 53000 two
53000 61000 now
61000 74500 sil
"""


def test_grid_align_in_25000ths_of_a_second_without_silences():
    assert parse_align(ALIGN) == [
        [0.95, 1.18, "bin"],
        [1.18, 1.36, "blue"],
        [1.42, 1.64, "at"],
        [1.64, 1.89, "f"],
        [1.89, 2.12, "two"],
        [2.12, 2.44, "now"],
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0 23750 sil\n23750 29500\n", "line 2: expected 'start end word'"),
        ("0 23750 sil\n23750 2950O bin\n", "line 2: times are not integers"),
        ("0 23750 sil\n29500 23750 bin\n", "line 2: times out of order"),
        ("0 23750 sil\n23750 74500 sp\n", "no words"),
    ],
)
def test_grid_align_malformed(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_align(text)


def test_grid_file_name_code():
    assert sentence_from_code("bbaf2n") == "bin blue at f two now"
    assert sentence_from_code("lgwzzs") == "lay green with z zero soon"
    assert sentence_from_code("lgwwzs") is None  # w is not a GRID letter
    assert sentence_from_code("pwij7a") == "place white in j seven again"
    assert sentence_from_code("srbz9p") == "set red by z nine please"
    assert sentence_from_code("lrae3p") == "lay red at e three please"
    assert sentence_from_code("xrae3p") is None
    assert sentence_from_code("bbaf2") is None


def test_grid_speaker_is_the_nearest_sN_folder():
    assert speaker_of("s1/bbaf2n.mpg") == "s1"
    assert speaker_of("video/s12/video/mpg_6000/bbaf2n.mpg") == "s12"
    assert speaker_of("align/s34/bbaf2n.align") == "s34"
    assert speaker_of("bbaf2n.mpg") is None
    assert speaker_of("s0/bbaf2n.mpg") is None


# ---------------------------------------------------------------- CREMA-D


def test_cremad_name_parts():
    assert parse_name("1001_DFA_ANG_XX") == {
        "actor": "1001", "sentence": "DFA", "emotion": "ANG", "emotion_id": 0, "intensity": "XX",
    }
    assert parse_name("1091_WSI_SAD_HI")["emotion_id"] == EMOTIONS.index("SAD") == 5


@pytest.mark.parametrize(
    ("stem", "reason"),
    [
        ("1001_DFA_XYZ_XX", "unknown emotion code 'XYZ'"),
        ("1001_ABC_ANG_XX", "unknown sentence code 'ABC'"),
        ("1001_DFA_ANG_ZZ", "unknown intensity code 'ZZ'"),
        ("1001_DFA_ANG", "is not <actor>"),
    ],
)
def test_cremad_name_malformed(stem, reason):
    with pytest.raises(ValueError, match=reason):
        parse_name(stem)


def test_cremad_has_the_12_sentences():
    assert len(SENTENCES) == 12
    assert SENTENCES["DFA"] == "Don't forget a jacket."
    assert SENTENCES["IEO"] == "It's eleven o'clock."


# ---------------------------------------------------------------- TCD-TIMIT


def test_timit_prompts_format():
    text = "; comment\n;\nShe had your dark suit in greasy wash water all year. (sa1)\n" \
           "This was easy for us. (sx3)\nnot a prompt line\n"
    assert parse_prompts(text) == {
        "sa1": "She had your dark suit in greasy wash water all year.",
        "sx3": "This was easy for us.",
    }
    assert set(bundled_prompts()) == {"sa1", "sa2"}


def test_tcdtimit_paths_and_test_speakers():
    assert _parse_path("volunteers/01M/Clips/straightcam/sa1.mp4") == (
        "volunteer", "01M", "straightcam", "sa1")
    assert _parse_path("TCDTIMIT/lipspeakers/Lipspkr2/Clips/30degcam/SI1391.mp4") == (
        "lipspeaker", "Lipspkr2", "30degcam", "si1391")
    assert _parse_path("volunteers/01M/sa1.mp4") is None
    assert len(TEST_VOLUNTEERS) == 17  # the paper's 70/30 speaker-independent split


# ---------------------------------------------------------------- LRS3

LRS3_TXT = """Text:  SO WE'RE GOING TO
Conf:  4

WORD START END ASDSCORE
SO 0.12 0.26 4.5
WE'RE 0.26 0.40 5.2
GOING 0.40 0.58 6.1
TO 0.58 0.66 6.0
"""


def test_lrs3_txt():
    text, words = parse_lrs3_txt(LRS3_TXT)
    assert text == "SO WE'RE GOING TO"
    assert words == [[0.12, 0.26, "SO"], [0.26, 0.40, "WE'RE"], [0.40, 0.58, "GOING"],
                     [0.58, 0.66, "TO"]]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (LRS3_TXT.replace("GOING 0.40 0.58 6.1", "GOING 0.40"), "line 7: expected"),
        (LRS3_TXT.replace("0.58 6.1", "x 6.1"), "not numbers"),
        (LRS3_TXT.replace("0.40 0.58 6.1", "0.58 0.40 6.1"), "end before start"),
        (LRS3_TXT.replace("Text:  SO WE'RE GOING TO\n", ""), "no 'Text:'"),
    ],
)
def test_lrs3_txt_malformed(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_lrs3_txt(text)


# ---------------------------------------------------------------- VoxCeleb


def test_voxceleb_ids_versions_and_official_splits():
    assert clip_id("dev/mp4/id00012/21Uxsk56VDQ/00001.mp4") == ("id00012", "21Uxsk56VDQ", "00001")
    assert clip_id("dev/mp4/00001.mp4") is None
    assert version_of("id00012") == 2 and version_of("id10001") == 1
    # VoxCeleb2: the dev/test folders
    assert default_split("dev/mp4/id00012/a/00001.mp4", ("id00012", "a", "00001"), None) == "train"
    assert default_split("vox2_test_mp4/mp4/id00017/a/1.mp4", ("id00017", "a", "1"), None) == "test"
    # VoxCeleb1: the verification test speakers id10270..id10309
    for n, split in [(10269, "train"), (10270, "test"), (10309, "test"), (10310, "train")]:
        ident = (f"id{n}", "a", "00001")
        assert default_split(f"mp4/id{n}/a/00001.mp4", ident, None) == split
    iden = parse_iden_split("1 id10001/1zcIwhmdeo4/00001.wav\n3 id10001/1zcIwhmdeo4/00002.wav\n"
                            "2 id10270/5r0dWxy17C8/00001.wav\n")
    assert iden == {"id10001/1zcIwhmdeo4/00001": "train", "id10001/1zcIwhmdeo4/00002": "test",
                    "id10270/5r0dWxy17C8/00001": "val"}
    ident = ("id10270", "5r0dWxy17C8", "00001")
    assert default_split("mp4/id10270/5r0dWxy17C8/00001.mp4", ident, iden) == "val"
    with pytest.raises(ValueError, match="line 1"):
        parse_iden_split("4 id10001/1zcIwhmdeo4/00001.wav\n")
