"""Round trip: write shards, select, reshard, read back exactly the selected samples."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from avprep.reshard import reshard
from avprep.selection import load_selected_keys, select_samples, write_selection
from avprep.shards import iter_shard, shard_name, write_shard
from tests.selection.selection_fixtures import manifest_table, skewed_histograms


def _build(tmp_path, n_clips=60, per_shard=7):
    """A build folder: shards of 7 samples (train and val) plus a manifest with a
    rejected clip, like `avprep build` leaves it."""
    build = tmp_path / "build"
    (build / "shards").mkdir(parents=True)
    h = skewed_histograms(n_clips, seed=2)
    rows, samples = [], {}
    for split in ("train", "val"):
        keys = [f"{split}_clip{i:03d}" for i in range(n_clips // 2)]
        for s in range(0, len(keys), per_shard):
            name = shard_name(split, s // per_shard)
            batch = []
            for key in keys[s : s + per_shard]:
                i = len(rows)
                fields = {
                    "json": json.dumps({"key": key, "i": i}).encode(),
                    "audio.npy": bytes([i % 256]) * (100 + i),
                }
                batch.append((key, fields))
                samples[key] = fields
                rows.append(
                    {"key": key, "split": split, "shard": name, "phone_hist": h[i].tolist()}
                )
            with open(build / "shards" / name, "wb") as f:
                write_shard(f, batch)
    rows.append({"key": "train_bad", "status": "rejected", "reason": "no face"})
    pq.write_table(manifest_table(rows), build / "manifest.parquet")
    (build / "build.json").write_text(json.dumps({"avprep": "test"}))
    return build, samples


def _read_all(folder):
    out = {}
    for path in sorted((folder / "shards").glob("*.tar")):
        with open(path, "rb") as f:
            for key, fields in iter_shard(f):
                assert key not in out
                out[key] = (path.name, fields)
    return out


def test_reshard_round_trip(tmp_path):
    build, samples = _build(tmp_path)
    r = select_samples(build, n_min=8, n_max=20, k=10, seed=1)
    write_selection(r, build / "selection")
    selected = load_selected_keys(build / "selection" / "selection.parquet")
    assert len(selected) == r.n and all(k.startswith("train_") for k in selected)

    out = tmp_path / "compact"
    res = reshard(build, build / "selection" / "selection.parquet", out, samples_per_shard=5)
    got = _read_all(out)
    assert set(got) == selected
    for key, (_, fields) in got.items():
        assert fields == samples[key]  # byte for byte
    expected_shards = [shard_name("train", i) for i in range(-(-r.n // 5))]
    assert res.shards == expected_shards
    assert sorted(p.name for p in (out / "shards").iterdir()) == expected_shards  # no temp left
    assert res.samples == r.n

    m = pq.read_table(out / "manifest.parquet")
    assert set(m["key"].to_pylist()) == selected
    assert set(m["status"].to_pylist()) == {"ok"}
    assert {k: s for k, s in zip(m["key"].to_pylist(), m["shard"].to_pylist(), strict=True)} == {
        k: shard for k, (shard, _) in got.items()
    }
    assert m.column_names == pq.read_table(build / "manifest.parquet").column_names
    info = json.loads((out / "reshard.json").read_text())
    assert info["samples"] == r.n and info["source_build"] == {"avprep": "test"}

    # deterministic: running again gives identical bytes; a smaller selection leaves no
    # stale shards behind
    before = {p.name: p.read_bytes() for p in (out / "shards").iterdir()}
    reshard(build, build / "selection", out, samples_per_shard=5)
    assert {p.name: p.read_bytes() for p in (out / "shards").iterdir()} == before
    small = select_samples(build, n_min=3, n_max=3, k=1)
    write_selection(small, tmp_path / "small")
    reshard(build, tmp_path / "small", out, samples_per_shard=5)
    assert set(_read_all(out)) == set(small.selected_keys)
    assert [p.name for p in (out / "shards").iterdir()] == [shard_name("train", 0)]


def test_reshard_refuses_unsafe_targets(tmp_path):
    build, _ = _build(tmp_path, n_clips=20)
    write_selection(select_samples(build, n_min=2, n_max=4, k=2), build / "sel")
    with pytest.raises(ValueError, match="must differ"):
        reshard(build, build / "sel", build)
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious.txt").write_text("x")
    with pytest.raises(FileExistsError):
        reshard(build, build / "sel", other)


def test_reshard_rejects_selection_from_another_build(tmp_path):
    build, _ = _build(tmp_path, n_clips=20)
    foreign = manifest_table([{"key": "elsewhere", "phone_hist": [1] * 39}])
    write_selection(select_samples(foreign, n_min=1, n_max=1, k=1), tmp_path / "sel")
    with pytest.raises(ValueError, match="another build"):
        reshard(build, tmp_path / "sel", tmp_path / "out")


@pytest.mark.parametrize(
    "column, value",
    [("split", "../../escaped"), ("split", "sub/dir"), ("shard", "../../outside-000000.tar")],
)
def test_manifest_values_cannot_leave_the_output_folder(tmp_path, column, value):
    """Issue 19 case 9: a manifest's split/shard values become paths; a crafted one must not
    write or read outside the folders reshard was given."""
    build, _ = _build(tmp_path, n_clips=10, per_shard=5)
    table = pq.read_table(build / "manifest.parquet")
    rows = table.to_pylist()
    rows[0][column] = value
    pq.write_table(manifest_table(rows), build / "manifest.parquet")
    selection = tmp_path / "selection.parquet"
    pq.write_table(pa.table({"key": [rows[0]["key"]], "rank": [0], "selected": [True]}), selection)
    out = tmp_path / "deep" / "er" / "out"
    with pytest.raises(ValueError, match=rf"manifest row '{rows[0]['key']}'"):
        reshard(build, selection, out)
    escaped = [p for p in tmp_path.rglob("*.tar") if build not in p.parents]
    assert escaped == []
