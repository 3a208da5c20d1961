"""The phonetics stage inside `avprep build`, and the commands that use its output."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
from click.testing import CliRunner

from avprep.cli import main
from avprep.phonetics.phoneset import PHONES
from avprep.shards import iter_shard


def test_build_with_aligner_then_select_samples(tmp_path, demo_corpus):
    out = tmp_path / "b"
    r = CliRunner().invoke(
        main,
        [
            "build",
            "folder",
            "--root",
            str(demo_corpus),
            "--out",
            str(out),
            "--aligner",
            "pocketsphinx",
            "--no-progress",
            "--face-backend",
            "none",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out / "manifest.parquet").to_pylist()
    assert all(r["status"] == "ok" for r in rows)
    for row in rows:
        hist = row["phone_hist"]
        assert len(hist) == len(PHONES) and sum(hist) > 5
    with open(next((out / "shards").glob("*.tar")), "rb") as f:
        key, fields = next(iter_shard(f))
    meta = json.loads(fields["json"])
    assert meta["phonetics"]["status"] == "aligned"
    ids = np.load(io.BytesIO(fields["phone_ids_25fps.npy"]))
    assert len(ids) == meta["n_frames"] and (ids > 0).sum() > len(ids) // 2

    r = CliRunner().invoke(
        main,
        [
            "select-samples",
            "folder",
            "--build",
            str(out),
            "--n-min",
            "2",
            "--n-max",
            "4",
            "--k",
            "5",
        ],
    )
    assert r.exit_code == 0, r.output
    sel = pq.read_table(out / "selection.parquet").to_pylist()
    assert 2 <= sum(s["selected"] for s in sel) <= 4
    assert (out / "selection.png").stat().st_size > 1000


def test_select_samples_on_an_unaligned_build_names_the_missing_step(tmp_path, demo_corpus):
    out = tmp_path / "b"
    CliRunner().invoke(
        main,
        [
            "build",
            "folder",
            "--root",
            str(demo_corpus),
            "--out",
            str(out),
            "--limit",
            "2",
            "--no-progress",
            "--aligner",
            "none",
            "--face-backend",
            "none",
        ],
    )
    r = CliRunner().invoke(main, ["select-samples", "folder", "--build", str(out)])
    assert r.exit_code != 0 and "--aligner" in r.output


def test_align_command_writes_textgrids(tmp_path, demo_corpus):
    root = tmp_path / "in"
    shutil.copytree(demo_corpus / "speaker1", root / "speaker1")
    r = CliRunner().invoke(main, ["align", "--root", str(root), "--out", str(tmp_path / "tg")])
    assert r.exit_code == 0, r.output
    grids = sorted((tmp_path / "tg").rglob("*.TextGrid"))
    assert len(grids) == 3
    assert '"phones"' in grids[0].read_text() and '"words"' in grids[0].read_text()
