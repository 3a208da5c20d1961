"""The face stage inside `avprep build`: aligned crops replace full frames; no face -> rejected."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
from click.testing import CliRunner

from avprep.cli import main
from avprep.datasets.demo_media import write_talking_clip
from avprep.face.crop_codec import decode_stream
from avprep.shards import iter_shard


def test_face_crops_in_samples_and_no_face_rejected(tmp_path, demo_corpus, speech):
    root = tmp_path / "corpus"
    good = root / "a" / "talk.mp4"
    good.parent.mkdir(parents=True)
    good.write_bytes((demo_corpus / "speaker1" / "clip00.mp4").read_bytes())
    write_talking_clip(
        root / "b" / "wall.mp4",
        None,
        speech.audio[:16000],
        16000,
        frames=np.full((25, 128, 128, 3), 90, np.uint8),
    )
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main,
        [
            "build",
            "folder",
            "--root",
            str(root),
            "--out",
            str(out),
            "--features",
            "none",
            "--aligner",
            "none",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = {r["source"]: r for r in pq.read_table(out / "manifest.parquet").to_pylist()}
    assert (rows["b/wall.mp4"]["status"], rows["b/wall.mp4"]["reason"]) == ("rejected", "no_face")
    row = rows["a/talk.mp4"]
    assert (
        row["status"] == "ok" and row["n_faces"] >= 1 and row["good_run_length"] == row["n_frames"]
    )
    with open(next((out / "shards").glob("*.tar")), "rb") as f:
        ((key, fields),) = list(iter_shard(f))
    meta = json.loads(fields["json"])
    crops = decode_stream(fields, "crop256")
    assert crops.shape == (meta["n_frames"], 260, 260, 3)  # the official 260 DAVS crop
    assert decode_stream(fields, "crop112").shape[1:3] == (112, 112)
    assert not [f for f in fields if f.startswith("f0")]  # no full frames when crops exist
    lm = np.load(__import__("io").BytesIO(fields["landmarks_crop256.npy"]))
    assert lm.shape == (meta["n_frames"], 68, 2)
    assert meta["face"]["face_backend"] == "dlib"
