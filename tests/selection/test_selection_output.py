"""selection.parquet / selection.json / selection.png, and the reader-side key loader."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import numpy as np
import pyarrow.parquet as pq
from click.testing import CliRunner

from avprep.cli import main
from avprep.phonetics.phoneset import PHONES
from avprep.selection import format_result, load_selected_keys, select_samples, write_selection
from avprep.selection_plot import selection_figure
from tests.selection.selection_fixtures import hist, manifest_table, skewed_manifest


def test_write_selection_files(tmp_path):
    table, h = skewed_manifest(2000, seed=5)
    pq.write_table(table, tmp_path / "manifest.parquet")
    r = select_samples(tmp_path / "manifest.parquet", n_min=200, n_max=800, k=10, seed=9)
    paths = write_selection(r, tmp_path / "sel")

    sel = pq.read_table(paths["parquet"])
    assert sel.column_names == ["key", "rank", "selected"]
    assert sel.num_rows == 2000
    assert sel.filter(sel["selected"])["key"].to_pylist() == r.selected_keys
    assert sorted(sel.filter(sel["selected"])["rank"].to_pylist()) == list(range(r.n))

    summary = json.loads(open(paths["json"]).read())
    assert summary["n"] == r.n and summary["seed"] == 9 and summary["candidates"] == 2000
    assert summary["distance"] == "l1"
    assert summary["distance_after"] < summary["distance_before"]
    assert summary["parameters"] == {
        "n_min": 200, "n_max": 800, "k": 10, "seed": 9,
        "distance": "l1", "split": "train", "ranking": "rarity", "min_confidence": None,
    }  # fmt: skip
    assert list(summary["phone_counts_before"]) == list(PHONES)
    assert summary["phone_counts_before"] == dict(zip(PHONES, h.sum(0).tolist(), strict=True))
    assert sum(summary["phone_counts_after"].values()) == summary["phones_after"]
    assert 0 < summary["phone_coverage_after"] <= 1
    assert len(summary["trials"]) == 10

    img = mpimg.imread(paths["png"])
    assert img.ndim == 3 and img.shape[0] > 500 and img.shape[1] > 1000
    assert img[..., :3].std() > 0.05  # something was drawn

    assert load_selected_keys(paths["parquet"]) == set(r.selected_keys)
    assert load_selected_keys(tmp_path / "sel") == set(r.selected_keys)  # the folder


def test_figure_labels_every_phone_readably():
    rng = np.random.default_rng(0)
    before = rng.integers(4800, 11_010_000, size=39)
    after = rng.integers(100, 5000, size=39)
    fig = selection_figure(before, after)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = fig.get_axes()
    assert len(axes) == 2
    for ax in axes:
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert [t.get_text() for t in labels] == list(PHONES)
        assert all(t.get_fontsize() >= 8 for t in labels)
        boxes = [t.get_window_extent(renderer) for t in labels]
        for left, right in zip(boxes, boxes[1:], strict=False):
            assert left.x1 < right.x0, "adjacent phone labels overlap"
        assert all(b.width > 0 and b.height > 0 for b in boxes)


def test_uniformity_of_whole_corpus_beside_subset_and_warning(tmp_path):
    # 39 single-phone clips: the whole corpus is exactly uniform, every subset of at most
    # n_max = 5 clips misses phones, so the chosen subset is less uniform than the whole
    rows = [{"key": f"c{i:02d}", "phone_hist": hist(**{p: 10})} for i, p in enumerate(PHONES)]
    r = select_samples(manifest_table(rows), n_min=2, n_max=5, k=5, seed=0)
    assert r.distance_before == 0.0 and r.distance_after > 0 and r.less_uniform_than_corpus
    text = format_result(r)
    assert "whole corpus 0.0000" in text and "LESS uniform than the whole corpus" in text
    assert any(m.startswith("warning: the selected") for m in r.messages)
    assert text.splitlines()[0].startswith("warning: the selected")
    u = r.summary()["uniformity"]
    assert u["whole_corpus"] == 0.0 and u["selected_subset"] == r.distance_after
    assert u["subset_less_uniform_than_corpus"] is True and u["distance"] == "l1"
    # the usual case: a skewed corpus, the subset is more uniform, no warning
    table, _ = skewed_manifest(2000, seed=5)
    ok = select_samples(table, n_min=200, n_max=800, k=10, seed=9)
    assert (
        not ok.less_uniform_than_corpus
        and not ok.summary()["uniformity"]["subset_less_uniform_than_corpus"]
    )
    assert "more uniform than the whole corpus" in format_result(ok)
    assert not any(m.startswith("warning") for m in ok.messages)
    # the CLI prints the same lines
    pq.write_table(table, tmp_path / "manifest.parquet")
    out = CliRunner().invoke(
        main,
        ["select-samples", "x", "--build", str(tmp_path), "--n-min", "200", "--n-max", "800",
         "--k", "10", "--seed", "9"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "whole corpus" in out.output and "selected subset" in out.output
