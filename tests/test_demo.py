"""The bundled demo corpus holds something for every trainer: talking clips with transcripts
and an emotion label (DVAE), LRW-style word clips (DAVS's word classifier) and identity
photos (DAVS's pid stage), all made offline and all built by `avprep build demo`."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from click.testing import CliRunner

from avprep.cli import main
from avprep.datasets import DiscoverOptions, get_adapter
from avprep.datasets.cremad import EMOTIONS
from avprep.datasets.demo_media import IDENTITY_AUGMENTATIONS, make_demo_corpus, speech_assets
from avprep.datasets.lrw import parse_lrw_txt
from avprep.media import DecodeConfig, decode_clip
from avprep.shards import iter_shard


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory) -> Path:
    return make_demo_corpus(tmp_path_factory.mktemp("full_demo"))


def test_demo_holds_every_part(full_demo):
    refs = list(get_adapter("demo").discover(str(full_demo), DiscoverOptions()))
    by_kind = Counter(
        "identity" if r.kind == "identity" else "word" if "word" in r.labels else "talking"
        for r in refs
    )
    assert by_kind["talking"] == 6 and by_kind["identity"] == 2 and by_kind["word"] >= 8
    assert len({r.key for r in refs}) == len(refs)
    words = (full_demo / "word_list.txt").read_text().split()
    assert words == sorted(words) and len(words) >= 6
    for r in refs:
        if r.kind == "identity":
            assert len(r.images) == len(IDENTITY_AUGMENTATIONS) and "person_id" in r.labels
            continue
        assert r.labels["emotion"] == "NEU" and r.labels["emotion_id"] == EMOTIONS.index("NEU")
        if "word" in r.labels:
            assert words[r.labels["word_id"]] == r.labels["word"] == r.transcript
            assert r.split in ("train", "val") and r.error is None
    assert {r.labels["person"] for r in refs if r.kind == "identity"} == {
        "astronaut",
        "grace_hopper",
    }
    only = DiscoverOptions(extra={"parts": "identities"})
    assert {r.kind for r in get_adapter("demo").discover(str(full_demo), only)} == {"identity"}
    with pytest.raises(ValueError, match="parts=faces"):
        list(
            get_adapter("demo").discover(str(full_demo), DiscoverOptions(extra={"parts": "faces"}))
        )


def _reference_words() -> dict[str, list[tuple[str, float, float]]]:
    """(WORD, start, end) per LibriVox recording from pocketsphinx's own reference alignments
    (tests/data, made by its command-line aligner: independent of avprep's code)."""
    out = {}
    for path in sorted((Path(__file__).parent / "data").glob("pocketsphinx_ref_*.phone.json")):
        rec = path.name.split("_")[2].split(".")[0]
        words = json.loads(path.read_text())["w"]
        out[rec] = [(w["t"].split("(")[0].upper(), w["b"], w["b"] + w["d"]) for w in words]
    return out


def test_word_clips_are_lrw_shaped_with_the_word_centred(full_demo):
    """29 frames, 1.16 s, cut from a bundled recording so that the word (by pocketsphinx's
    reference alignment) is centred, and the .txt's Duration: is that word's length. Where
    the clip was cut from is found by cross-correlating its decoded (AAC) audio with the
    recordings."""
    recordings = {a.name.rsplit("_", 1)[-1]: a.audio for a in speech_assets()}
    reference = _reference_words()
    clips = sorted((full_demo / "lipread_mp4").rglob("*.mp4"))
    for clip in clips:
        word = clip.parent.parent.name
        media = decode_clip(str(clip), None, DecodeConfig())
        assert media.n_frames == 29 and len(media.audio) == 29 * 640
        assert media.frames.std() > 20  # a real face, not a blank frame
        duration, said = parse_lrw_txt(clip.with_suffix(".txt").read_text(), word)
        assert said == word
        best = max(
            ((rec, *_locate(media.audio, audio)) for rec, audio in recordings.items()),
            key=lambda x: x[2],
        )
        rec, offset, score = best
        assert score > 0.9, (clip.name, best)
        centre = offset + 0.58
        ref = min(
            (w for w in reference[rec] if w[0] == word), key=lambda w: abs(w[1] + w[2] - 2 * centre)
        )
        assert abs((ref[1] + ref[2]) / 2 - centre) < 0.03, (clip.name, ref, centre)
        assert abs((ref[2] - ref[1]) - duration) < 0.03, (clip.name, ref, duration)


def _locate(clip: np.ndarray, recording: np.ndarray) -> tuple[float, float]:
    """(seconds into ``recording`` where ``clip`` starts (may be < 0), normalised peak)."""
    n = len(clip) + len(recording)
    size = 1 << (n - 1).bit_length()
    xc = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(clip, size)), size)
    lags = np.concatenate([np.arange(0, len(recording)), np.arange(-len(clip) + 1, 0)])
    vals = np.concatenate([xc[: len(recording)], xc[size - len(clip) + 1 :]])
    k = int(np.argmax(vals))
    lag = int(lags[k])
    lo, hi = max(lag, 0), min(lag + len(clip), len(recording))
    seg = recording[lo:hi]
    part = clip[lo - lag : hi - lag]
    norm = float(np.linalg.norm(seg) * np.linalg.norm(part)) or 1.0
    return lag / 16000, float(seg @ part) / norm


def test_identity_photos_each_show_one_detectable_face(full_demo):
    import dlib

    detector = dlib.get_frontal_face_detector()
    photos = sorted((full_demo / "identities").rglob("*.jpg"))
    assert len(photos) == 2 * len(IDENTITY_AUGMENTATIONS)
    for path in photos:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        (face,) = detector(rgb, 0)
        assert face.width() > 80 and rgb.shape == (256, 256, 3)
    a, b = (full_demo / "identities" / "astronaut").glob("0[01]_*.jpg")
    assert not np.array_equal(cv2.imread(str(a)), cv2.imread(str(b)))  # augmented, not copies


def test_build_demo_words_and_identities_for_the_trainers(tmp_path, full_demo):
    out = tmp_path / "b"
    r = CliRunner().invoke(
        main,
        ["build", "demo", "--root", str(full_demo), "--out", str(out), "--no-progress",
         "--option", "parts=words,identities", "--features", "mfcc_davs"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert all(row["status"] == "ok" for row in rows), [row["reason"] for row in rows]
    words = [row for row in rows if row["kind"] == "clip"]
    assert len(words) >= 8 and all(row["n_frames"] == 29 for row in words)
    assert all(row["word_id"] is not None and row["emotion"] == "NEU" for row in words)
    assert all(row["label_source"] == "transcript" for row in words)
    people = [row for row in rows if row["kind"] == "identity"]
    assert sorted(row["person_id"] for row in people) == [0, 1]
    for tar in (out / "shards").glob("*.tar"):
        with open(tar, "rb") as f:
            for _, fields in iter_shard(f):
                meta = json.loads(fields["json"])
                if meta["kind"] == "identity":
                    crops = [m for m in fields if m.startswith("crop256_")]
                    assert len(crops) == len(IDENTITY_AUGMENTATIONS)  # a face in every photo
                else:
                    assert "crop256.mp4" in fields and "mfcc_davs.npy" in fields
                    audio, sr = sf.read(io.BytesIO(fields["flac"]))
                    assert sr == 16000 and len(audio) == 29 * 640
