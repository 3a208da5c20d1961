"""The phonetics stage inside `avprep build`, and the commands that use its output."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import soundfile as sf
import soxr
from click.testing import CliRunner

from avprep.cli import main
from avprep.datasets.demo_media import write_talking_clip
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


def test_mfa_in_a_build_runs_once_per_batch_not_per_clip(tmp_path, monkeypatch):
    from tests.phonetics.mfa_standin import PRAATIO, install_standin

    log = install_standin(tmp_path, monkeypatch)
    audio, sr = sf.read(PRAATIO / "bobby.wav", dtype="float32")
    audio = soxr.resample(audio, sr, 16000)
    root = tmp_path / "corpus"
    texts = [
        "Bobby ripped the ledger",
        "bobby ripped the ledger.",
        "Bobby ripped the ledger",
        "mary rolled the barrel",
    ]
    for i, text in enumerate(texts):
        clip = root / f"spk{i % 2}" / f"c{i}.mp4"
        write_talking_clip(clip, None, audio, 16000, frames=np.zeros((30, 32, 32, 3), np.uint8))
        clip.with_suffix(".txt").write_text(text)
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
            "--aligner",
            "mfa",
            "--align-batch",
            "2",
            "--shard-size",
            "4",
            "--face-backend",
            "none",
            "--features",
            "none",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert len([c for c in calls if c[0] == "align"]) == 2  # 4 clips, batches of 2
    rows = {r["source"]: r for r in pq.read_table(out / "manifest.parquet").to_pylist()}
    for i in range(3):
        row = rows[f"spk{i % 2}/c{i}.mp4"]
        assert row["status"] == "ok" and sum(row["phone_hist"]) > 5
    bad = rows["spk1/c3.mp4"]
    assert (bad["status"], bad["reason"]) == ("rejected", "alignment_failed")
