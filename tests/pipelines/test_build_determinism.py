"""Two builds of the same input, each in its own process, write the same bytes.

Kept cheap: two demo clips, every stage on (dlib faces as MP4, all four feature tracks with a
noisy copy, pocketsphinx), one clip per shard. Separate processes matter: the causes found
(libswscale's colour conversion depending on the input buffer's address; x264's
macroblock-tree rate control depending on heap contents) never showed within one call
sequence reliably, only across processes and heap states.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from avprep.shards import iter_shard


def _build(root: Path, out: Path) -> None:
    cmd = [
        sys.executable, "-c", "from avprep.cli import main; main()",
        "build", "folder", "--root", str(root), "--out", str(out), "--limit", "2",
        "--shard-size", "1", "--noise-db", "-30", "--no-progress",
    ]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def _members(out: Path) -> dict[str, dict[str, bytes]]:
    shards = {}
    for tar in sorted((out / "shards").glob("*.tar")):
        with open(tar, "rb") as f:
            shards[tar.name] = {
                f"{k}.{m}": v for k, fields in iter_shard(f) for m, v in fields.items()
            }
    return shards


def test_two_builds_in_separate_processes_are_byte_identical(tmp_path, demo_corpus):
    a, b = tmp_path / "a", tmp_path / "b"
    _build(demo_corpus, a)
    _build(demo_corpus, b)
    ma, mb = _members(a), _members(b)
    assert len(ma) == 2 and sorted(ma) == sorted(mb)
    names = {n for members in ma.values() for n in members}
    assert any(n.endswith(".crop112.mp4") for n in names)  # the streams that used to differ
    assert any(n.endswith(".mouth.mp4") for n in names)
    for shard, members in ma.items():
        assert sorted(members) == sorted(mb[shard]), shard
        differ = [n for n, data in members.items() if data != mb[shard][n]]
        assert not differ, f"{shard}: {differ}"
        assert (a / "shards" / shard).read_bytes() == (b / "shards" / shard).read_bytes()
    assert (a / "manifest.parquet").read_bytes() == (b / "manifest.parquet").read_bytes()
