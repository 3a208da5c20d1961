"""select-samples' minimum label confidence (recognised phone labels, issue 16)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from avprep.selection import NoPhoneHistogramsError, load_candidates, select_samples


def _manifest(confidences, with_column=True):
    n = len(confidences)
    cols = {
        "key": [f"k{i}" for i in range(n)],
        "split": ["train"] * n,
        "status": ["ok"] * n,
        "phone_hist": [[i + 1] * 39 for i in range(n)],
    }
    if with_column:
        cols["label_confidence"] = pa.array(confidences, pa.float64())
    return pa.table(cols)


def test_low_confidence_clips_are_not_candidates():
    keys, hists, notes = load_candidates(_manifest([1.0, 0.2, 0.7, None]), "train", 0.5)
    assert keys.to_pylist() == ["k0", "k2", "k3"]  # null: no recogniser verdict, kept
    assert hists[:, 0].tolist() == [1, 3, 4]
    assert any("1 clips with label confidence below 0.5" in n for n in notes)
    keys, _, _ = load_candidates(_manifest([1.0, 0.2, 0.7, None]), "train")
    assert len(keys) == 4


def test_manifests_from_before_recognition_pass():
    keys, _, notes = load_candidates(_manifest([0.1, 0.1], with_column=False), "train", 0.9)
    assert len(keys) == 2 and not notes


def test_all_below_and_bad_values_are_clear_errors():
    with pytest.raises(NoPhoneHistogramsError, match="min-confidence"):
        load_candidates(_manifest([0.1, 0.2]), "train", 0.5)
    with pytest.raises(ValueError, match=r"min_confidence must be in \[0, 1\]"):
        select_samples(_manifest([0.9]), n_min=1, n_max=1, k=1, min_confidence=1.5)
    result = select_samples(_manifest([0.9, 0.1, 0.8]), n_min=1, n_max=2, k=3, min_confidence=0.5)
    assert set(result.ranked_keys.to_pylist()) == {"k0", "k2"}
    assert result.summary()["parameters"]["min_confidence"] == 0.5
