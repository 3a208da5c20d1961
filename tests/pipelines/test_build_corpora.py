"""`avprep build <corpus>` end to end on every corpus adapter's fixture corpus
(real layout and metadata formats, real media): labels land in samples and the
manifest, malformed metadata becomes a rejection, every discovered clip is there."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from avprep.cli import main
from avprep.shards import iter_shard
from tests.datasets import corpora


def _cli_options(name: str, root: Path) -> list[str]:
    opts = corpora.options(name, root)
    args = []
    if opts.transcripts:
        args += ["--transcripts", str(opts.transcripts)]
    for k, v in opts.extra.items():
        args += ["--option", f"{k}={v}"]
    return args


@pytest.mark.parametrize("name", sorted(corpora.CORPORA))
def test_build_every_corpus(tmp_path, name):
    root = corpora.make(name, tmp_path / "corpus", malformed=True)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main,
        [
            "build",
            name,
            "--root",
            str(root),
            "--out",
            str(out),
            "--aligner",
            "none",
            "--features",
            "mfcc_davs",
            "--shard-size",
            "3",
            "--no-progress",
            "--face-backend",
            "none",
            *_cli_options(name, root),
        ],
    )
    assert r.exit_code == 0, r.output
    rows = {row["key"]: row for row in pq.read_table(out / "manifest.parquet").to_pylist()}
    samples = {}
    for tar in (out / "shards").glob("*.tar"):
        with open(tar, "rb") as f:
            samples.update({k: json.loads(v["json"]) for k, v in iter_shard(f)})
    expected = corpora.expected(name, malformed=True)
    assert len(rows) == len(expected)  # every discovered clip accounted for
    for clip in expected:
        key = clip.key(name)
        row = rows[key]
        if clip.error:
            assert (row["status"], row["reason"]) == ("rejected", clip.error), row
            continue
        assert row["status"] == "ok", row
        assert row["split"] == clip.split and row["speaker"] == clip.speaker
        meta = samples[key]
        assert meta["kind"] == clip.kind and meta["split"] == clip.split
        for label, value in clip.labels.items():
            got = meta["labels"][label]
            if isinstance(value, float):
                assert got == pytest.approx(value, abs=1e-6)
            else:
                assert json.loads(json.dumps(got)) == json.loads(json.dumps(value)), label
        assert json.loads(row["labels"] or "{}") == meta["labels"]
        if clip.transcript is not None:
            assert meta["transcript"] == clip.transcript
        if clip.kind == "clip":
            assert "mfcc_davs.npy" in meta["members"] and "flac" in meta["members"]
        else:
            assert len([m for m in meta["members"] if m.endswith(".jpg")]) == len(clip.images)


def test_identity_faces_are_aligned_image_by_image(tmp_path):
    root = corpora.make("identity", tmp_path / "corpus", malformed=False)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        main, ["build", "identity", "--root", str(root), "--out", str(out), "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    for clip in corpora.expected("identity", malformed=False):
        row = next(
            x
            for x in pq.read_table(out / "manifest.parquet").to_pylist()
            if x["key"] == clip.key("identity")
        )
        assert row["status"] == "ok", row
    with open(next((out / "shards").glob("*.tar")), "rb") as f:
        key, fields = next(iter_shard(f))
    meta = json.loads(fields["json"])
    crops = sorted(f for f in fields if f.startswith("crop256_"))
    assert len(crops) == meta["n_frames"] == len(meta["identity"]["images"]) >= 2
    assert "flac" not in fields and "mfcc_davs.npy" not in fields
    import io

    import numpy as np

    lm = np.load(io.BytesIO(fields["landmarks_crop256.npy"]))
    assert lm.shape == (meta["n_frames"], 68, 2) and np.isfinite(lm).all()
