"""VoxCeleb as distributed (no transcripts): `avprep build voxceleb` recognises phone labels
and `avprep select-samples voxceleb` runs on them; a user's transcripts still win."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from avprep.cli import main
from avprep.shards import iter_shard
from tests.datasets import corpora

BUILD = ["--features", "none", "--face-backend", "none", "--no-progress", "--shard-size", "3"]


def _build(root: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        main, ["build", "voxceleb", "--root", str(root), "--out", str(out), *BUILD, *extra]
    )


def _samples(out: Path) -> dict[str, dict]:
    samples = {}
    for tar in (out / "shards").glob("*.tar"):
        with open(tar, "rb") as f:
            samples.update({k: json.loads(v["json"]) for k, v in iter_shard(f)})
    return samples


def test_voxceleb_without_transcripts_builds_and_selects(tmp_path):
    root = corpora.make("voxceleb", tmp_path / "vox", malformed=False)
    out = tmp_path / "out"
    r = _build(root, out)
    assert r.exit_code == 0, r.output
    assert "clips had no transcript; their phone labels were recognised" in r.output
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert len(rows) == len(corpora.expected("voxceleb", malformed=False))
    for row in rows:
        assert row["status"] == "ok", row
        assert row["transcript"] is None and row["label_source"] == "recognized"
        assert 0 < row["label_confidence"] <= 1 and sum(row["phone_hist"]) >= 5
    info = json.loads((out / "build.json").read_text())
    assert info["counts"]["labels_by_source"] == {"recognized": len(rows)}
    meta = next(iter(_samples(out).values()))
    assert meta["phonetics"]["label_source"] == "recognized" and meta["phonetics"]["hypothesis"]
    assert "phone_ids_25fps.npy" in meta["members"] and "viseme_ids_100hz.npy" in meta["members"]

    sel = ["select-samples", "voxceleb", "--build", str(out), "--n-min", "1", "--n-max", "3"]
    r = CliRunner().invoke(main, [*sel, "--k", "4"])
    assert r.exit_code == 0, r.output
    chosen = pq.read_table(out / "selection.parquet").to_pylist()
    n_train = sum(row["split"] == "train" for row in rows)
    assert len(chosen) == n_train and 1 <= sum(c["selected"] for c in chosen) <= 3

    confs = sorted(row["label_confidence"] for row in rows if row["split"] == "train")
    r = CliRunner().invoke(main, [*sel, "--k", "4", "--min-confidence", str(confs[1])])
    assert r.exit_code == 0, r.output
    assert "1 clips with label confidence below" in r.output
    assert len(pq.read_table(out / "selection.parquet")) == n_train - 1
    r = CliRunner().invoke(main, [*sel, "--min-confidence", "1.0"])
    assert r.exit_code != 0 and "--min-confidence" in r.output


def test_user_transcripts_win_and_recognition_can_be_off(tmp_path):
    root = corpora.make("voxceleb", tmp_path / "vox", malformed=False)
    sidecar = str(corpora.options("voxceleb", root).transcripts)
    out = tmp_path / "out"
    r = _build(root, out, "--transcripts", sidecar)
    assert r.exit_code == 0, r.output
    expected = {c.key("voxceleb"): c for c in corpora.expected("voxceleb", malformed=False)}
    for row in pq.read_table(out / "manifest.parquet").to_pylist():
        has_text = expected[row["key"]].transcript is not None
        assert row["status"] == "ok", row
        assert row["label_source"] == ("transcript" if has_text else "recognized"), row
        assert (row["label_confidence"] == 1.0) == has_text
    off = tmp_path / "off"
    r = _build(root, off, "--recognize", "off")
    assert r.exit_code == 0, r.output
    rows = pq.read_table(off / "manifest.parquet").to_pylist()
    assert all(row["phone_hist"] is None and row["label_source"] is None for row in rows)
    assert "recognised" not in r.output
