"""selection.parquet / selection.json / selection.png, and the reader-side key loader."""

from __future__ import annotations

import json

import matplotlib.image as mpimg
import numpy as np
import pyarrow.parquet as pq
from selection_fixtures import skewed_manifest

from avprep.phonetics.phoneset import PHONES
from avprep.selection import load_selected_keys, select_samples, write_selection
from avprep.selection_plot import selection_figure


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
