"""Shards and specs from untrusted hands (issue 19, cases 6, 7, 8, 10): crafted here, each
must be refused with an error naming the shard and the member, without running a command or
allocating what a forged header asks for."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avprep.reader import ShardSourceError, iter_samples, resolve_shards
from avprep.reader.sample import DamagedSampleError
from avprep.reader.sources import iter_shard_samples
from avprep.shards import ShardFormatError, ShardWriter
from tests.reader.reader_fixtures import minimal_meta


def _member(name: str, data: bytes = b"", **attrs) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in attrs.items():
        setattr(info, k, v)
    return info, data


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> str:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return str(path)


def _sparse_tar(path: Path, stored: bytes, real_size: int) -> str:
    """A GNU old-style sparse member ('S'): ``stored`` bytes that expand to ``real_size``."""
    info = tarfile.TarInfo("k0000.npy")
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = len(stored)
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    header[386:398] = tarfile.itn(real_size - len(stored), 12, tarfile.GNU_FORMAT)  # offset
    header[398:410] = tarfile.itn(len(stored), 12, tarfile.GNU_FORMAT)  # numbytes
    header[483:495] = tarfile.itn(real_size, 12, tarfile.GNU_FORMAT)  # realsize
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % (sum(header[:512]) & 0o777777)
    pad = (-len(stored)) % 512
    path.write_bytes(bytes(header) + stored + b"\0" * pad + b"\0" * 1024)
    return str(path)


def _json(key: str, **changes) -> tuple[tarfile.TarInfo, bytes]:
    meta = {**minimal_meta(key), **changes}
    return _member(f"{key}.json", json.dumps(meta).encode())


@pytest.mark.parametrize(
    "member, message",
    [
        (_member("../escape.json", b"{}"), "parent"),
        (_member("/etc/k0000.json", b"{}"), "absolute"),
        (_member("k0000.flac", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic link"),
        (_member("k0000.flac", type=tarfile.LNKTYPE, linkname="k0000.json"), "hard link"),
        (_member("k0000.fifo", type=tarfile.FIFOTYPE), "special file"),
        (_member("k0000.dev", type=tarfile.CHRTYPE), "special file"),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink", "fifo", "chardev"],
)
def test_unsafe_members_are_refused_by_name(tmp_path, member, message):
    url = _tar(tmp_path / "train-000000.tar", [_json("k0000"), member])
    with pytest.raises(ShardFormatError, match=message) as err:
        list(iter_samples(url))
    assert url in str(err.value) and repr(member[0].name) in str(err.value)


def test_sparse_and_oversized_members_are_refused(tmp_path, monkeypatch):
    # 20 kB on disk that tar would expand to 300 MB
    sparse = _sparse_tar(tmp_path / "sparse-000000.tar", b"x" * 20_000, 300_000_000)
    with pytest.raises(ShardFormatError, match="sparse"):
        list(iter_shard_samples(sparse))
    big = _tar(tmp_path / "big-000000.tar", [_json("k0000"), _member("k0000.npy", b"\0" * 5000)])
    with pytest.raises(ShardFormatError, match=r"'k0000.npy' is 5000 bytes, over the 4096") as e:
        list(iter_shard_samples(big, max_member_bytes=4096))
    assert big in str(e.value)
    monkeypatch.setenv("AVPREP_MAX_MEMBER_BYTES", "4096")
    with pytest.raises(ShardFormatError, match="AVPREP_MAX_MEMBER_BYTES"):
        list(iter_shard_samples(big))
    monkeypatch.setenv("AVPREP_MAX_MEMBER_BYTES", "8192")  # the user raises the limit
    assert [k for k, _ in iter_shard_samples(big)] == ["k0000"]


def _npy(shape: tuple[int, ...], dtype: str = "uint8", data: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return buf.getvalue() + (data if data is not None else b"\0" * size)


def _flac(samples: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(samples, np.float32), 16000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def test_metadata_and_array_headers_are_checked_before_use(tmp_path):
    path = tmp_path / "forged-000000.tar"
    with open(path, "wb") as f, ShardWriter(f) as w:
        # n_frames 3e8 (schema-valid, duration to match) over one frame of audio
        meta = {**minimal_meta("a_long"), "n_frames": 300_000, "duration": 12_000.0}
        w.add("a_long", {"json": json.dumps(meta).encode(), "flac": _flac(640)})
        meta = {**minimal_meta("a_longer"), "n_frames": 300_000_000, "duration": 12_000_000.0}
        w.add("a_longer", {"json": json.dumps(meta).encode()})  # and no audio to compare
        ok = minimal_meta("b_arrays")
        w.add("b_arrays", {
            "json": json.dumps(ok).encode(),
            "flac": _flac(640),
            "face_ok.npy": _npy((300_000_000,), data=b"\1"),  # header: 300 MB, data: 1 byte
            "pose.npy": _npy((7, 3), "float32"),  # 7 rows for a 1-frame clip
            "landmarks_src.npy": _npy((1, 68, 2), "float32"),
        })  # fmt: skip
    url = str(path)
    samples = iter_samples(url)
    with pytest.raises(DamagedSampleError, match="member flac") as e:
        next(samples)
    assert url in str(e.value) and "a_long" in str(e.value)
    with pytest.raises(DamagedSampleError, match="member json: n_frames=300000000 means"):
        list(iter_samples(url, keys=["a_longer"]))
    (sample,) = iter_samples(url, keys=["b_arrays"])
    with pytest.raises(DamagedSampleError, match=r"member face_ok.npy: header says \(300000000,\)"):
        sample.array("face_ok")
    with pytest.raises(DamagedSampleError, match=r"member pose.npy: shape \(7, 3\)"):
        sample.array("pose")
    assert sample.array("landmarks_src").shape == (1, 68, 2)


def test_glob_and_directory_results_are_never_commands(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "pipe:touch pwned;.tar"  # a file a stranger's archive could contain
    with open(name, "wb") as f, ShardWriter(f) as w:
        w.add("k0000", {"json": json.dumps(minimal_meta("k0000")).encode()})
    for spec in ("*.tar", ".", str(tmp_path)):
        urls = resolve_shards(spec)
        assert urls == [str(tmp_path / name)]
        assert [s.key for s in iter_samples(spec)] == ["k0000"]
    assert not os.path.exists("pwned")


def test_build_json_cannot_point_outside_the_build(tmp_path):
    outside = tmp_path / "elsewhere-000000.tar"
    with open(outside, "wb") as f, ShardWriter(f) as w:
        w.add("k0000", {"json": json.dumps(minimal_meta("k0000")).encode()})
    build = tmp_path / "build"
    (build / "shards").mkdir(parents=True)
    for bad in ("../../elsewhere-000000.tar", str(outside), "gs://other/x-000000.tar"):
        (build / "build.json").write_text(json.dumps({"shards": [bad]}))
        with pytest.raises(ShardSourceError, match="not written by avprep"):
            resolve_shards(build)
