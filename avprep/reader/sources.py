"""Where shards come from: resolve a shard spec to URLs, open a URL, read its samples.

A spec is one string or a list of them; each string is

- a build folder (holds ``build.json`` or ``shards/``): its shards in build order, optionally
  only those of some splits (shard names are ``{split}-NNNNNN.tar``);
- a directory: every ``*.tar`` below it, sorted;
- a brace pattern (``/data/train-{000000..000127}.tar``, webdataset style) or a glob
  (``/data/*.tar``);
- one shard: a local path, a URL fsspec opens (``gs://``, ``s3://``, ``http(s)://``, needs
  gcsfs / s3fs / aiohttp) or ``pipe:CMD`` (a shell command writing the tar to stdout, e.g.
  ``pipe:gsutil cat gs://b/train-000000.tar``).

Only a spec string the caller wrote may be a ``pipe:`` command: what a glob, a directory
listing or a ``build.json`` yields is always a path (local results are made absolute, so a
file named ``pipe:...`` is opened as a file, never run). A build folder's shards must be
plain file names under its ``shards/`` (or the object-store prefix): ``build.json`` cannot
point the reader elsewhere. Samples are read with the member checks of
:func:`avprep.shards.iter_shard`; its errors name the shard.

Remote folders and globs are listed through fsspec, so ``gs://bucket/build`` works like a local
build folder. Nothing here imports torch: the torch datasets in ``models.data`` call these.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import tarfile
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

import braceexpand

from avprep import storage
from avprep.build_layout import BuildLayout
from avprep.shards import ShardFormatError, check_shard_name, iter_shard


class ShardSourceError(ValueError):
    """A shard spec that names nothing readable."""


def _is_build_folder(path: str) -> bool:
    layout = BuildLayout(path)
    return storage.exists(layout.build_info) or storage.isdir(layout.shards_dir)


def _split_of(url: str) -> str:
    """``.../train-000003.tar`` -> ``train`` (the build's shard naming)."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit("-", 1)[0] if "-" in name else ""


def _build_folder_shards(path: str) -> list[str]:
    layout = BuildLayout(path)
    info_path = layout.build_info
    if storage.exists(info_path):
        info = json.loads(storage.read_text(info_path))
        names = info.get("shards") or []
        for n in names:
            try:
                check_shard_name(n)
            except ShardFormatError as e:
                raise ShardSourceError(
                    f"{info_path} lists shard {n!r}: {e}; a build's shards lie in its own "
                    "shards/ folder, so this build.json was not written by avprep"
                ) from None
        urls = [layout.shard(n) for n in names]
        present = [u for u in urls if storage.exists(u)]
        if len(present) != len(urls):
            missing = [u for u in urls if u not in set(present)]
            raise ShardSourceError(
                f"{path}: build.json lists {len(urls)} shards but {len(missing)} are missing "
                f"(first: {missing[0]}); the build is incomplete: re-run `avprep build` to resume"
            )
        return urls
    return _list_tars(layout.shards_dir)


def _list_tars(path: str) -> list[str]:
    return [u for u in storage.walk_files(path, (".tar",))]


def _match(pattern: str) -> list[str]:
    """Paths matching a glob: absolute when local, so none reads as ``pipe:`` or a URL."""
    if storage.is_remote(pattern):
        return storage.glob(pattern)
    return sorted(os.path.abspath(m) for m in glob.glob(pattern))


def _listed(path: str, urls: list[str]) -> list[str]:
    """Directory listing results as paths that cannot be taken for ``pipe:`` commands."""
    return urls if storage.is_remote(path) else [os.path.abspath(u) for u in urls]


def resolve_shards(
    spec: str | os.PathLike | Sequence[str | os.PathLike], splits: Iterable[str] | None = None
) -> list[str]:
    """The shard URLs a spec names (module docstring), in a stable order.

    ``splits``: keep only shards named ``{split}-NNNNNN.tar`` for these splits when the spec
    is a build folder or a directory (a cheap pre-filter; samples are filtered by their own
    ``split`` too). Raises :class:`ShardSourceError` when nothing matches."""
    items = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    wanted = set(splits) if splits else None
    urls: list[str] = []
    for item in items:
        s = os.fspath(item)
        if s.startswith("pipe:"):
            urls.extend(braceexpand.braceexpand(s))
            continue
        if "{" in s:
            for one in braceexpand.braceexpand(s):
                urls.extend(resolve_shards(one, None))
            continue
        if any(c in s for c in "*?["):
            found = _match(s)
            if not found:
                raise ShardSourceError(f"no shard matches {s!r}")
            urls.extend(found)
            continue
        if storage.isdir(s):
            found = _listed(s, _build_folder_shards(s) if _is_build_folder(s) else _list_tars(s))
            if wanted is not None:
                found = [u for u in found if _split_of(u) in wanted]
            if not found:
                which = f" of split(s) {sorted(wanted)}" if wanted else ""
                raise ShardSourceError(f"no shards{which} in {s!r}")
            urls.extend(found)
            continue
        if storage.is_remote(s) or os.path.exists(s):
            urls.append(s)
            continue
        raise ShardSourceError(f"shard source {s!r} does not exist")
    if not urls:
        raise ShardSourceError(f"shard spec {spec!r} names no shards")
    return urls


class _PipeStream:
    """stdout of a ``pipe:`` command; closing it waits for the command and checks its status."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.stream: BinaryIO = self.proc.stdout  # type: ignore[assignment]

    def read(self, n: int = -1) -> bytes:
        return self.stream.read(n)

    def close(self) -> None:
        self.stream.close()
        rc = self.proc.wait()
        if rc != 0:
            raise OSError(f"pipe:{self.cmd} exited with status {rc}")

    def __enter__(self) -> _PipeStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_shard(url: str) -> BinaryIO:
    """A readable binary stream for a shard URL (local, fsspec URL or ``pipe:``)."""
    if url.startswith("pipe:"):
        return _PipeStream(url[len("pipe:") :])  # type: ignore[return-value]
    if url.startswith("file://"):
        url = url[len("file://") :]
    return storage.open_binary(url)  # type: ignore[return-value]


def iter_shard_samples(
    url: str, max_member_bytes: int | None = None
) -> Iterator[tuple[str, dict[str, bytes]]]:
    """``(key, {field: bytes})`` of every sample of one shard, streamed. A member over
    ``max_member_bytes`` (default :func:`avprep.shards.member_byte_limit`), a link, a sparse
    or special member or an unsafe name raises :class:`ShardFormatError` naming the shard."""
    stream = open_shard(url)
    try:
        yield from iter_shard(stream, max_member_bytes)
    except ShardFormatError as e:
        raise ShardFormatError(f"shard {url}: {e}") from None
    except (OSError, EOFError, tarfile.TarError) as e:
        raise OSError(f"reading shard {url}: {e}") from e
    finally:
        stream.close()
