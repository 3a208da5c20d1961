"""Speaker-wise splits, the split override file, transcript sidecars and adapter options."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from avprep.datasets import DiscoverOptions, get_adapter
from avprep.datasets.cremad import ACTORS, CREMAD_SPLIT
from avprep.datasets.grid import GRID_SPEAKERS, GRID_SPLIT
from avprep.datasets.splits import SplitOverrides, speaker_order, speaker_split
from avprep.datasets.transcripts import SidecarError, TranscriptSidecar
from avprep.keys import clip_key
from tests.datasets import corpora


def refs(name, root, **kw):
    return list(get_adapter(name).iter_clips(str(root), DiscoverOptions(**kw)))


# ---------------------------------------------------------------- speaker-wise splits


def test_dvae_speaker_counts():
    assert Counter(GRID_SPLIT.values()) == {"train": 28, "val": 3, "test": 3}
    assert set(GRID_SPLIT) == set(GRID_SPEAKERS) == {f"s{i}" for i in range(1, 35)}
    assert Counter(CREMAD_SPLIT.values()) == {"train": 73, "val": 9, "test": 9}
    assert set(CREMAD_SPLIT) == set(ACTORS) == {str(a) for a in range(1001, 1092)}


def test_speaker_splits_are_pinned():
    """The published assignment: changing it silently would move speakers between splits."""
    assert sorted(k for k, v in GRID_SPLIT.items() if v == "val") == ["s27", "s28", "s30"]
    assert sorted(k for k, v in GRID_SPLIT.items() if v == "test") == ["s10", "s22", "s34"]
    assert sorted(k for k, v in CREMAD_SPLIT.items() if v == "test") == [
        "1008", "1021", "1026", "1028", "1043", "1057", "1072", "1084", "1085"]
    assert sorted(k for k, v in CREMAD_SPLIT.items() if v == "val") == [
        "1002", "1009", "1010", "1015", "1020", "1027", "1054", "1074", "1086"]


def test_speaker_split_depends_only_on_list_and_salt():
    spk = [f"p{i}" for i in range(10)]
    a = speaker_split(spk, (6, 2, 2), salt="x")
    assert speaker_split(list(reversed(spk)), (6, 2, 2), salt="x") == a
    assert speaker_order(spk, "x") == speaker_order(sorted(spk, reverse=True), "x")
    assert speaker_split(spk, (6, 2, 2), salt="y") != a
    with pytest.raises(ValueError, match="add up"):
        speaker_split(spk, (6, 2, 1), salt="x")


def test_split_file_overrides_by_clip_and_by_speaker(corpus_root, tmp_path):
    root = corpus_root("grid")
    split_file = tmp_path / "splits.txt"
    split_file.write_text("# move s1 to test, but one of its clips to val\n"
                          "s1 test\ns1/bbaf2n.mpg val\n\ns2 val\n")
    got = {r.source.split(str(root) + "/")[1]: r.split
           for r in refs("grid", root, extra={"split_file": str(split_file)})}
    assert got["s1/bbaf2n.mpg"] == "val"
    assert got["s1/lrae3p.mpg"] == "test"
    assert got["s2/bbaf2n.mpg"] == "val"
    assert got["s22/pwij7a.mpg"] == GRID_SPLIT["s22"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [("s1 training\n", "unknown split 'training'"), ("s1\n", "expected"),
     ("s1 test\ns1 val\n", "two different splits")],
)
def test_split_file_errors_name_the_line(text, reason):
    with pytest.raises(SidecarError, match=reason):
        SplitOverrides.parse(text, source="f.txt")


def test_split_file_applies_to_every_adapter(corpus_root, tmp_path):
    split_file = tmp_path / "splits.txt"
    split_file.write_text("m.01_0j test\n1001 test\nLipspkr1 test\n")
    for name, speaker in [("identity", "m.01_0j"), ("cremad", "1001"), ("tcdtimit", "Lipspkr1")]:
        moved = [r for r in refs(name, corpus_root(name), extra={"split_file": str(split_file)})
                 if r.speaker == speaker]
        assert moved and {r.split for r in moved} == {"test"}


@pytest.mark.parametrize("adapter", ["folder", "demo"])
def test_split_file_moves_folder_and_demo_clips(adapter, demo_corpus, tmp_path):
    """The folder adapter (and the demo's talking part, read as a folder) once ignored
    --split-file silently: every clip stayed in train."""
    split_file = tmp_path / "splits.txt"
    split_file.write_text("speaker1/clip02 test\nspeaker2 val\n")
    extra = {"split_file": str(split_file)}
    if adapter == "demo":
        extra["parts"] = "talking"
    got = {r.source.split(str(demo_corpus) + "/")[1]: r.split
           for r in refs(adapter, demo_corpus, extra=extra)}
    assert got == {"speaker1/clip00.mp4": "train", "speaker1/clip01.mp4": "train",
                   "speaker1/clip02.mp4": "test", "speaker2/clip00.mp4": "val",
                   "speaker2/clip01.mp4": "val", "speaker2/clip02.mp4": "val"}
    plain = {r.split for r in refs(adapter, demo_corpus, extra={k: v for k, v in extra.items()
                                                                if k != "split_file"})}
    assert plain == {"train"}


# ---------------------------------------------------------------- transcript sidecars


def test_sidecar_tsv_lookup_with_and_without_extension():
    s = TranscriptSidecar.parse("# comment\n\ndev/mp4/id1/yt/00001.mp4\thello  world\n"
                                "id2/yt/00002\tgood morning\n")
    assert s.lookup("dev/mp4/id1/yt/00001.mp4") == "hello world"
    assert s.lookup("dev/mp4/id1/yt/00001") == "hello world"
    assert s.lookup("./dev/mp4/id1/yt/00001.mp4") == "hello world"
    assert s.lookup("dev/mp4/id2/yt/00002.mp4", "id2/yt/00002") == "good morning"
    assert s.lookup("nothing", None) is None


def test_sidecar_jsonl():
    lines = [json.dumps({"clip": "a/b.mp4", "transcript": "one two"}),
             json.dumps({"clip": "c/d", "transcript": "three"})]
    s = TranscriptSidecar.parse("\n".join(lines), jsonl=True)
    assert s.lookup("a/b") == "one two" and s.lookup("c/d.mp4") == "three"


@pytest.mark.parametrize(
    ("text", "jsonl", "reason"),
    [
        ("a/b.mp4 no tab here\n", False, "t:1: expected '<clip><TAB><transcript>'"),
        ("a/b.mp4\t   \n", False, "empty transcript"),
        ("a/b.mp4\tone\na/b\ttwo\n", False, "t:2: 'a/b' already has a different"),
        ('{"clip": "a"}\n', True, "t:1: expected a JSON object"),
        ('{"clip": "a", "transcript": 3}\n', True, "must be strings"),
    ],
)
def test_sidecar_errors_name_the_line(text, jsonl, reason):
    with pytest.raises(SidecarError, match=reason):
        TranscriptSidecar.parse(text, source="t", jsonl=jsonl)


def test_voxceleb_transcripts_come_from_the_sidecar_only(corpus_root, tmp_path):
    root = corpus_root("voxceleb")
    assert all(r.transcript is None for r in refs("voxceleb", root))
    sidecar = tmp_path / "subs.jsonl"
    sidecar.write_text(json.dumps({"clip": "id00012/2DLq_Kkc1r8/00001", "transcript": "hi"}))
    got = {r.key: r.transcript for r in refs("voxceleb", root, transcripts=str(sidecar))}
    key = clip_key("voxceleb", "dev/mp4/id00012/2DLq_Kkc1r8/00001.mp4")
    assert got.pop(key) == "hi"
    assert set(got.values()) == {None}


# ---------------------------------------------------------------- adapter options


def test_lrw_official_word_list_gives_500_class_ids(corpus_root, tmp_path):
    root = corpus_root("lrw")
    words = tmp_path / "words.txt"
    words.write_text("ABOUT\nabsolutely\nDISPOSED\nHIMSELF\nSELFISH\nZERO\n")
    ids = {r.labels["word"]: r.labels["word_id"]
           for r in refs("lrw", root, extra={"word_list": str(words)})}
    assert ids == {"DISPOSED": 2, "HIMSELF": 3, "SELFISH": 4}
    words.write_text("ABOUT\nDISPOSED\n")
    bad = [r for r in refs("lrw", root, extra={"word_list": str(words)}) if r.error]
    assert {r.labels["word"] for r in bad if r.error.reason == "unknown_word"} == {
        "HIMSELF", "SELFISH"}


def test_lrw_root_may_be_lipread_mp4_itself(corpus_root):
    root = corpus_root("lrw")
    inner = refs("lrw", root / "lipread_mp4")
    assert len(inner) == len(refs("lrw", root))
    assert {r.labels["word_id"] for r in inner} == {0, 1, 2}


def test_lrw_stray_video_is_reported_not_dropped(corpus_root, tmp_path):
    root = tmp_path / "lrw"
    shutil.copytree(corpus_root("lrw"), root)
    shutil.copy(root / corpora._lrw_rel("HIMSELF", "val", 1), root / "lipread_mp4" / "x.mp4")
    stray = [r for r in refs("lrw", root) if r.error and r.error.reason == "bad_layout"]
    assert [r.source for r in stray] == [str(root / "lipread_mp4" / "x.mp4")]


def test_lrw_missing_txt_is_missing_metadata(corpus_root, tmp_path):
    root = tmp_path / "lrw"
    shutil.copytree(corpus_root("lrw"), root)
    (root / corpora._lrw_rel("HIMSELF", "val", 1)).with_suffix(".txt").unlink()
    errors = [r.error for r in refs("lrw", root) if r.labels["word"] == "HIMSELF"]
    assert len(errors) == 1 and errors[0].reason == "missing_metadata"


def test_tcdtimit_camera_option_and_sidecar(corpus_root, tmp_path):
    root = corpus_root("tcdtimit")
    assert {r.labels["camera"] for r in refs("tcdtimit", root)} == {"straightcam"}
    both = refs("tcdtimit", root, extra={"camera": "all"})
    assert {r.labels["camera"] for r in both} == {"straightcam", "30degcam"}
    assert {r.key for r in both} == {e.key("tcdtimit")
                                     for e in corpora.expected_tcdtimit(camera="all")}
    only30 = refs("tcdtimit", root, extra={"camera": "30degcam"})
    assert [r.labels["sentence"] for r in only30] == ["sx31"]
    with pytest.raises(ValueError, match="camera"):
        refs("tcdtimit", root, extra={"camera": "side"})
    # a sidecar wins over the prompts, by sentence id or clip path
    sidecar = tmp_path / "t.tsv"
    sidecar.write_text("sx99\tunless to be rather\n"
                       "volunteers/01M/Clips/straightcam/sa1.mp4\the was not\n")
    got = {(r.speaker, r.labels["sentence"]): r.transcript
           for r in refs("tcdtimit", root, transcripts=str(sidecar))}
    assert got[("13F", "sx99")] == "unless to be rather"
    assert got[("01M", "sa1")] == "he was not"
    assert got[("01M", "sx31")] == "He might even have been."


def test_tcdtimit_without_prompts_file_knows_only_sa(corpus_root, tmp_path):
    root = tmp_path / "tcd"
    shutil.copytree(corpus_root("tcdtimit"), root)
    (root / "PROMPTS.TXT").unlink()
    got = {r.labels["sentence"]: r.transcript for r in refs("tcdtimit", root)}
    assert got["sa1"] == "She had your dark suit in greasy wash water all year."
    assert got["sx31"] is None and got["si1391"] is None
    prompts = tmp_path / "elsewhere.txt"
    prompts.write_text("Unless to be rather. (si1391)\n")
    got = {r.labels["sentence"]: r.transcript
           for r in refs("tcdtimit", root, extra={"prompts": str(prompts)})}
    assert got["si1391"] == "Unless to be rather."


def test_voxceleb_iden_split_and_version_filter(corpus_root, tmp_path):
    root = tmp_path / "vox"
    shutil.copytree(corpus_root("voxceleb"), root)
    (root / "iden_split.txt").write_text("2 id10001/1zcIwhmdeo4/00001.wav\n"
                                         "3 id10270/5r0dWxy17C8/00001.wav\n")
    got = {r.speaker: r.split for r in refs("voxceleb", root) if r.speaker.startswith("id1")}
    assert got == {"id10001": "val", "id10270": "test", "id10271": "test"}
    v2 = refs("voxceleb", root, extra={"version": "2"})
    assert v2 and {r.labels["voxceleb_version"] for r in v2} == {2}
    v1 = refs("voxceleb", root, extra={"version": "1"})
    assert v1 and {r.labels["voxceleb_version"] for r in v1} == {1}


def test_voxceleb_audio_only_root_explains_voxceleb1(tmp_path):
    from avprep.datasets.base import EmptyCorpusError

    root = tmp_path / "vox1"
    corpora.write_audio(root / "wav/id10001/1zcIwhmdeo4/00001.wav",
                        corpora.speech_window("0880", 0.0, 1.0)[0])
    with pytest.raises(EmptyCorpusError, match="VoxCeleb1 ships audio"):
        refs("voxceleb", root)


def test_cremad_wav_only_root_points_at_videoflash(tmp_path):
    from avprep.datasets.base import EmptyCorpusError

    root = tmp_path / "crema"
    corpora.write_audio(root / "AudioWAV/1001_DFA_ANG_XX.wav",
                        corpora.speech_window("0880", 0.0, 1.0)[0])
    with pytest.raises(EmptyCorpusError, match="VideoFlash"):
        refs("cremad", root)


def test_identity_person_ids_follow_sorted_folders(corpus_root):
    got = {r.speaker: r.labels["person_id"] for r in refs("identity", corpus_root("identity"))
           if r.error is None}
    assert got == {"m.0107_f": 0, "m.01_0j": 1}
    assert sorted(got) == ["m.0107_f", "m.01_0j"]
