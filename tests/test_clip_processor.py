"""The per-item flow of `avprep build` without Beam (avprep.clip_processor): video clips and
identity photo folders fed to ClipProcessor directly, each kind through its own processor,
rejections carried as (reason, detail), batching stages handed whole batches."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from avprep.clip_processor import ClipProcessor, FullFramesStage, IdentityPhotoProcessor
from avprep.clips import ClipError, ClipRef, ClipRejected, ClipWork
from avprep.config import BuildConfig
from avprep.datasets.demo_media import write_talking_clip
from avprep.face.stage import FaceStage
from avprep.plan import ref_from_json, ref_to_json
from avprep.stages import Stage


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, face, speech):
    """A talking clip, a silent-video file that is no video, and two identity folders: one
    with a face photo and a blank image, one with blank images only."""
    root = tmp_path_factory.mktemp("items")
    write_talking_clip(root / "talk.mp4", face, speech.audio[:16000])
    (root / "broken.mp4").write_bytes(b"not a video")
    for person, images in {"astro": ("face", "blank"), "nobody": ("blank", "blank2")}.items():
        (root / person).mkdir()
        for name in images:
            img = face if name == "face" else np.full((512, 512, 3), 127, np.uint8)
            cv2.imwrite(str(root / person / f"{name}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return root


def _clip(root, name: str, **kw) -> ClipRef:
    return ClipRef(
        key=name.replace(".", "_"), dataset="t", split="train", source=str(root / name), **kw
    )


def _identity(root, person: str) -> ClipRef:
    images = tuple(str(p) for p in sorted((root / person).glob("*.jpg")))
    return ClipRef(
        key=person, dataset="t", split="train", source=images[0], kind="identity", images=images,
        labels={"person_id": 0},
    )  # fmt: skip


@pytest.fixture
def counted_face_stages(monkeypatch):
    """Every FaceStage made while the test runs."""
    made: list[FaceStage] = []
    real = FaceStage.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(FaceStage, "__init__", init)
    return made


def _config(root) -> BuildConfig:
    return BuildConfig(
        dataset="t", root=str(root), out="unused", face_backend="dlib",
        features=("mfcc_davs",), aligner="none",
    )  # fmt: skip


def test_clips_and_identity_photos_become_samples_and_rejections(corpus, counted_face_stages):
    processor = ClipProcessor(_config(corpus))
    processor.setup()
    refs = [
        _clip(corpus, "talk.mp4"),
        _clip(corpus, "broken.mp4"),
        _clip(corpus, "odd.mp4", error=ClipError("bad_metadata", "odd.txt: no words")),
    ]
    out = {row["key"]: (row, fields) for row, fields in processor.process_many(refs)}
    assert len(counted_face_stages) == 1 and processor.identity is None  # no identity item yet

    row, fields = out["talk_mp4"]
    assert row["status"] == "ok", row
    assert {"flac", "crop256.mp4", "mfcc_davs.npy", "landmarks_src.npy"} <= set(fields)
    assert row["n_frames"] == json.loads(fields["json"])["n_frames"] == 25
    row, fields = out["broken_mp4"]
    assert (row["status"], fields) == ("rejected", None) and row["reason"] and row["detail"]
    row, fields = out["odd_mp4"]  # found at discovery: rejected with its reason and detail
    assert (row["status"], row["reason"], row["detail"], fields) == (
        "rejected", "bad_metadata", "odd.txt: no words", None,
    )  # fmt: skip

    row, fields = processor.process(_identity(corpus, "astro"))
    assert len(counted_face_stages) == 2  # the identity face stage, made at the first photo
    assert isinstance(processor.identity, IdentityPhotoProcessor)
    photo_cfg = counted_face_stages[1].config
    assert (photo_cfg.image_format, photo_cfg.detect_every) == ("jpg", 1)
    assert row["status"] == "ok" and row["person_id"] == 0, (row["reason"], row["detail"])
    meta = json.loads(fields["json"])
    assert "flac" not in fields and "mfcc_davs.npy" not in fields  # photos have no audio
    # relative to the corpus root, like "source": shards carry no machine paths
    assert meta["identity"]["images"] == ["astro/face.jpg"]
    (blank,) = meta["identity"]["rejected"]
    assert blank["image"] == "astro/blank.jpg" and blank["reason"] == "no_face"
    assert [m for m in fields if m.startswith("crop256_")] == ["crop256_00000.jpg"]
    assert meta["versions"] == processor.versions()  # the build's versions, in every sample

    row, fields = processor.process(_identity(corpus, "nobody"))
    assert (row["status"], row["reason"], fields) == ("rejected", "no_face", None)
    assert row["detail"] == "no usable face in any of 2 images"
    assert len(counted_face_stages) == 2  # made once


def test_a_corpus_without_identity_photos_loads_one_face_stage(corpus, counted_face_stages):
    processor = ClipProcessor(_config(corpus))
    processor.preflight()
    processor.setup()
    for _ in processor.process_many([_clip(corpus, "talk.mp4")] * 2):
        pass
    assert len(counted_face_stages) == 1 and processor.identity is None


class _Batching(Stage):
    """Records the batches it gets (keys, frame sizes); refuses the clips in ``refuse``."""

    name = "batching"
    batches = True

    def __init__(self, refuse=(), fail=False):
        self.refuse, self.fail, self.seen = set(refuse), fail, []

    def process(self, work: ClipWork) -> None:
        (result,) = self.process_batch([work])
        if result is not None:
            raise result

    def process_batch(self, works):
        self.seen.append([(w.ref.key, w.media.frames.shape[1:3]) for w in works])
        if self.fail:
            raise RuntimeError("the batch tool crashed")
        for w in works:
            w.manifest["label_source"] = "batched"
        return [ClipRejected("no_speech", "0.00s") if w.ref.key in self.refuse else None
                for w in works]  # fmt: skip


def _batch_refs(corpus):
    return [
        _clip(corpus, "talk.mp4"),
        _identity(corpus, "astro"),
        ClipRef("talk2", "t", "train", str(corpus / "talk.mp4")),
        _clip(corpus, "broken.mp4"),
        ClipRef("talk3", "t", "train", str(corpus / "talk.mp4")),
    ]


@pytest.mark.parametrize("batch_size", [4, 1])
def test_a_batching_stage_gets_the_clips_of_a_batch_at_once(corpus, batch_size):
    batching = _Batching(refuse={"talk2"})
    config = BuildConfig(dataset="t", root=str(corpus), out="unused")
    processor = ClipProcessor(config, [FullFramesStage(64), batching], [FullFramesStage(64)])
    rows = list(processor.process_many(_batch_refs(corpus), batch_size=batch_size))
    assert [r["key"] for r, _ in rows] == ["talk_mp4", "astro", "talk2", "broken_mp4", "talk3"]
    keys = [[k for k, _ in batch] for batch in batching.seen]
    sizes = {size for batch in batching.seen for _, size in batch}
    if batch_size == 4:
        # photos and clips that failed earlier never reach it; the fifth is the next batch
        assert keys == [["talk_mp4", "talk2"], ["talk3"]]
        assert sizes == {(1, 1)}  # while a batch waits, its clips' frames are released
    else:
        assert keys == [["talk_mp4"], ["talk2"], ["talk3"]]
        assert sizes == {(256, 256)}
    status = {r["key"]: (r["status"], r.get("reason"), r.get("label_source")) for r, _ in rows}
    assert status["talk_mp4"] == ("ok", None, "batched")
    assert status["talk2"] == ("rejected", "no_speech", None)
    assert status["astro"][0] == "ok" and status["broken_mp4"][0] == "rejected"
    fields = dict(rows[0][1])
    assert "f00024.jpg" in fields and "flac" in fields  # the clip's frames were stored first


def test_a_crashing_batch_rejects_its_clips_as_stage_errors(corpus):
    config = BuildConfig(dataset="t", root=str(corpus), out="unused")
    processor = ClipProcessor(config, [FullFramesStage(64), _Batching(fail=True)], [])
    rows = [row for row, _ in processor.process_many(_batch_refs(corpus), batch_size=8)]
    errors = {
        r["key"]: (r["status"], r["reason"], r["detail"]) for r in rows if r["kind"] == "clip"
    }
    for key in ("talk_mp4", "talk2", "talk3"):
        assert errors[key] == ("rejected", "stage_error", "batching batch failed")
    assert errors["broken_mp4"][1] != "stage_error"  # its own decode reason is kept


def test_every_stage_batches_by_default_one_clip_at_a_time():
    class Half(Stage):
        name = "half"

        def process(self, work):
            if work.ref.key == "b":
                raise ClipRejected("odd", "b is odd")
            work.meta["half"] = True

    works = [ClipWork(ref=ClipRef(k, "t", "train", k)) for k in "abc"]
    results = Half().process_batch(works)
    assert [r if r is None else (r.reason, r.detail) for r in results] == [
        None,
        ("odd", "b is odd"),
        None,
    ]
    assert [w.meta.get("half") for w in works] == [True, None, True]
    assert Half.batches is False and FaceStage.batches is False


def test_discovery_errors_travel_through_plan_files_as_data():
    ref = ClipRef("k", "lrw", "train", "/x.mp4", error=ClipError("bad_layout", "x: not WORD/..."))
    line = ref_to_json(ref)
    assert json.loads(line)["error"] == {"reason": "bad_layout", "detail": "x: not WORD/..."}
    assert ref_from_json(line) == ref and ref_from_json(line).error == ref.error
    assert ref_from_json(ref_to_json(ClipRef("k", "d", "s", "/y"))).error is None
