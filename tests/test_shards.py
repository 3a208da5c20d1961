import io
import tarfile

import pytest

from avprep.shards import ShardFormatError, ShardWriter, iter_shard, shard_name, write_shard


def _samples():
    return [("k2", {"json": b"{}", "flac": b"x" * 10}), ("k1", {"json": b"[]", "f00000.jpg": b"j"})]


def test_write_is_deterministic_and_order_independent():
    a, b = io.BytesIO(), io.BytesIO()
    write_shard(a, _samples())
    write_shard(b, list(reversed(_samples())))
    assert a.getvalue() == b.getvalue()


def test_members_have_fixed_metadata_and_sorted_names():
    buf = io.BytesIO()
    write_shard(buf, _samples())
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["k1.f00000.jpg", "k1.json", "k2.flac", "k2.json"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (0, 0, 0, "", "", 0o644)
    }


def test_round_trip_groups_fields_by_key():
    buf = io.BytesIO()
    write_shard(buf, _samples())
    buf.seek(0)
    assert dict(iter_shard(buf)) == dict(_samples())


@pytest.mark.parametrize("key", ["a.b", "a/b", "../x", "", "k 1"])
def test_writer_refuses_keys_that_would_split_or_nest_members(key):
    with ShardWriter(io.BytesIO()) as w:
        with pytest.raises(ShardFormatError, match="cannot name shard members"):
            w.add(key, {"json": b"{}"})
        w.add("k1", {"json": b"{}"})  # nothing of the refused sample was written


def test_writer_refuses_out_of_order_keys():
    with ShardWriter(io.BytesIO()) as w:
        w.add("b", {"json": b"{}"})
        with pytest.raises(ValueError, match="ascending"):
            w.add("a", {"json": b"{}"})


def test_shard_name():
    assert shard_name("train", 3) == "train-000003.tar"
