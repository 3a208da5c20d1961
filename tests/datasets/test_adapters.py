"""Every corpus adapter against its fixture corpus: what is found, with which labels."""

from __future__ import annotations

import shutil
from collections import Counter

import av
import pytest

from avprep.datasets import REGISTRY, DiscoverOptions, get_adapter
from avprep.datasets.base import EmptyCorpusError
from avprep.keys import is_safe_key
from tests.datasets import corpora

NAMES = list(corpora.CORPORA)


def discover(name: str, root, **opts) -> list:
    base = corpora.options(name, root)
    options = DiscoverOptions(
        limit=opts.get("limit"), splits=opts.get("splits", ()),
        speakers=opts.get("speakers", ()), transcripts=opts.get("transcripts", base.transcripts),
        extra=opts.get("extra", base.extra),
    )
    return list(get_adapter(name).iter_clips(str(root), options))


@pytest.mark.parametrize("name", NAMES)
def test_adapter_is_registered_and_described(name):
    from avprep import datasets  # noqa: F401  (imports every adapter module)

    cls = REGISTRY[name]
    assert cls.name == name
    assert cls.description and cls.layout and cls.labels
    assert all(isinstance(label, str) for label in cls.labels)


@pytest.mark.parametrize("name", NAMES)
def test_discovery_matches_the_corpus(name, corpus_root):
    root = corpus_root(name)
    refs = {r.key: r for r in discover(name, root)}
    want = {e.key(name): e for e in corpora.expected(name)}
    assert set(refs) == set(want)
    for key, e in want.items():
        r = refs[key]
        assert r.dataset == name
        assert r.source == str(root / e.relpath)
        assert r.split == e.split, key
        assert r.speaker == e.speaker, key
        assert r.kind == e.kind
        assert r.audio == (str(root / e.audio) if e.audio else None), key
        if e.error:
            assert r.error and r.error.reason == e.error and r.error.detail, (key, r.error)
        else:
            assert r.error is None, (key, r.error)
            assert r.transcript == e.transcript, key
        for label, value in e.labels.items():
            assert r.labels.get(label) == value, (key, label, r.labels)
        assert r.images == tuple(str(root / i) for i in e.images)


@pytest.mark.parametrize("name", NAMES)
def test_keys_are_unique_safe_and_stable(name, corpus_root):
    root = corpus_root(name)
    first = [r.key for r in discover(name, root)]
    again = [r.key for r in discover(name, root)]
    assert first == again  # same order, same keys
    assert len(set(first)) == len(first)
    assert all(is_safe_key(k) and k.startswith(name + "_") for k in first)


# CREMA-D is one flat folder of unique names: no two clips can share a file name.
@pytest.mark.parametrize("name", [n for n in NAMES if n != "cremad"])
def test_same_file_name_in_two_folders_gives_two_keys(name, corpus_root):
    refs = discover(name, corpus_root(name))
    basenames = Counter(r.source.rsplit("/", 1)[-1] for r in refs)
    assert max(basenames.values()) >= 2, "the fixture must hold a repeated file name"


@pytest.mark.parametrize("name", NAMES)
def test_empty_or_missing_root_says_what_it_expected(name, tmp_path):
    adapter = get_adapter(name)
    example = adapter.layout.splitlines()[0].split()[0]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a corpus\n")
    for root in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(EmptyCorpusError) as err:
            list(adapter.discover(str(root), DiscoverOptions()))
        assert example in str(err.value) and str(root) in str(err.value)
    with pytest.raises(EmptyCorpusError, match="--root"):
        list(adapter.discover(None, DiscoverOptions()))


@pytest.mark.parametrize("name", ["lrw", "grid", "cremad", "tcdtimit", "lrs3", "voxceleb"])
def test_another_corpus_is_not_mistaken_for_this_one(name, corpus_root):
    other = "identity"  # image folders: no clips of any video corpus
    with pytest.raises(EmptyCorpusError):
        discover(name, corpus_root(other))


@pytest.mark.parametrize("name", NAMES)
def test_limit_split_and_speakers_slice_the_corpus(name, corpus_root):
    root = corpus_root(name)
    everything = discover(name, root)
    assert len(discover(name, root, limit=2)) == 2
    assert [r.key for r in discover(name, root, limit=2)] == [r.key for r in everything[:2]]
    for split in {r.split for r in everything}:
        got = discover(name, root, splits=(split,))
        assert got and {r.split for r in got} == {split}
        assert len(got) == sum(r.split == split for r in everything)
    speakers = sorted({r.speaker for r in everything if r.speaker})
    if name == "lrw":
        assert not speakers  # LRW has no speaker ids
        assert discover(name, root, speakers=("anyone",)) == []
        return
    got = discover(name, root, speakers=(speakers[0],))
    assert got and {r.speaker for r in got} == {speakers[0]}


@pytest.mark.parametrize("name", NAMES)
def test_without_malformed_cases_nothing_is_rejected(name, tmp_path):
    root = corpora.make(name, tmp_path / name, malformed=False)
    refs = discover(name, root)
    assert refs and all(r.error is None for r in refs)
    assert {r.key for r in refs} == {e.key(name) for e in corpora.expected(name, malformed=False)}


# ------------------------------------------------------------- the fixture media are real

CONTAINERS = {
    "lrw": ("mp4", "h264", "aac", 25),
    "grid": ("mpeg", "mpeg1video", "mp2", 25),
    "cremad": ("flv", "flv", "mp3", 30),
    "tcdtimit": ("mp4", "h264", "aac", 29.97),
    "lrs3": ("mp4", "h264", "aac", 25),
    "voxceleb": ("mp4", "h264", "aac", 25),
}


@pytest.mark.parametrize("name", list(CONTAINERS))
def test_fixture_media_are_decodable_video_with_speech(name, corpus_root):
    fmt, vcodec, acodec, fps = CONTAINERS[name]
    for ref in discover(name, corpus_root(name)):
        if ref.source.endswith((".wav", ".m4a")):
            continue  # audio-only rejects (missing_video)
        with av.open(ref.source) as c:
            assert fmt in c.format.name
            v, a = c.streams.video[0], c.streams.audio[0]
            assert v.codec_context.name == vcodec
            assert a.codec_context.name.startswith(acodec)
            assert float(v.average_rate) == pytest.approx(fps, abs=0.01)
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        assert 20 <= len(frames) <= 45  # about a second
        assert frames[0].std() > 20  # a photo, not a flat colour
        if ref.audio:
            with av.open(ref.audio) as c:
                samples = sum(f.samples for f in c.decode(audio=0))
                seconds = samples / c.streams.audio[0].sample_rate
            assert seconds == pytest.approx(len(frames) / fps, abs=0.1)  # the same utterance


def test_lrw_clips_are_29_frames(corpus_root):
    for ref in discover("lrw", corpus_root("lrw")):
        with av.open(ref.source) as c:
            assert sum(1 for _ in c.decode(video=0)) == 29


def test_identity_images_are_face_photos(corpus_root):
    import cv2

    for ref in discover("identity", corpus_root("identity")):
        for path in ref.images:
            img = cv2.imread(path)
            assert img is not None and img.ndim == 3 and img.std() > 20


def test_fixture_corpus_can_be_copied_and_rediscovered(corpus_root, tmp_path):
    """Keys depend on paths relative to the root only, not on where the root is."""
    src = corpus_root("grid")
    dst = tmp_path / "elsewhere"
    shutil.copytree(src, dst)
    assert [r.key for r in discover("grid", dst)] == [r.key for r in discover("grid", src)]


@pytest.mark.parametrize("name", NAMES)
def test_remote_root_gives_the_same_clips(name, corpus_root):
    """Adapters list and read through avprep.storage (fsspec): an in-memory filesystem stands
    in for gs:// here, with the same keys, splits and labels as the local copy."""
    import fsspec

    local = corpus_root(name)
    fs = fsspec.filesystem("memory")
    remote = f"memory:///{name}_corpus"
    for path in local.rglob("*"):
        if path.is_file():
            fs.pipe(f"/{name}_corpus/{path.relative_to(local).as_posix()}", path.read_bytes())
    opts = corpora.options(name, local)
    if opts.transcripts:
        opts.transcripts = remote + "/" + corpora.VOX_SIDECAR
    try:
        got = list(get_adapter(name).iter_clips(remote, opts))
    finally:
        fs.rm(f"/{name}_corpus", recursive=True)
    want = discover(name, local)
    assert [r.key for r in got] == [r.key for r in want]
    for g, w in zip(got, want, strict=True):
        assert (g.split, g.speaker, g.transcript, g.labels, g.error) == (
            w.split, w.speaker, w.transcript, w.labels, w.error)
        assert g.source == remote + w.source[len(str(local)):]
