"""VoxCeleb1 and VoxCeleb2 in one adapter, ``voxceleb`` (CRAN; DAVS evaluation).

One name for both versions because a clip's version follows from its speaker
id (VoxCeleb1: id10001-id11251, VoxCeleb2: id00012-id09272), keys and splits
never clash, and ``avprep select-samples voxceleb`` finds the build under one
name. ``extra["version"] = "1"`` or ``"2"`` restricts discovery to one version.

Layouts as distributed::

    dev/mp4/id00012/21Uxsk56VDQ/00001.mp4      VoxCeleb2 video (vox2_dev_mp4)
    dev/aac/id00012/21Uxsk56VDQ/00001.m4a      VoxCeleb2 audio (vox2_dev_aac), optional
    test/mp4/id00017/01dfn2spqyE/00001.mp4     VoxCeleb2 test set (vox2_test_mp4)
    wav/id10001/1zcIwhmdeo4/00001.wav          VoxCeleb1 audio (vox1_dev_wav / vox1_test_wav)
    mp4/id10001/1zcIwhmdeo4/00001.mp4          VoxCeleb1 video clips (see below)

A clip is any ``<speaker id>/<YouTube id>/<n>.mp4`` below the root; its audio
is the ``.m4a``/``.aac``/``.wav`` with the same ``<speaker>/<YouTube id>/<n>``
(VoxCeleb2's separate aac, VoxCeleb1's wav), else the video's own track.
VoxCeleb1 is distributed as audio plus face tracks and YouTube ids, not video:
cut the clips from the YouTube videos (its ``txt/`` face tracks give the
frames) into the same ``<speaker>/<YouTube id>/<n>.mp4`` layout. Audio with no
video next to it is reported as rejected (``missing_video``).

Splits (``train`` / ``val`` / ``test``): VoxCeleb2 by its ``dev`` (train) and
``test`` folders (a path component ``dev``/``test``, also ``vox2_dev_mp4``...;
train when neither appears). VoxCeleb1 by the identification split
``iden_split.txt`` (``1 id10001/1zcIwhmdeo4/00001.wav``: 1 train, 2 val,
3 test) when it is at the root or given as ``extra["iden_split"]``, else by the
verification split (test speakers id10270-id10309, the rest train).

Transcripts: VoxCeleb has none; CRAN used YouTube subtitles. Give them as a
sidecar (``--transcripts``, see :mod:`avprep.datasets.transcripts`), keyed by
the clip path relative to the root or by ``<speaker>/<YouTube id>/<n>``.
Labels: ``youtube_id``, ``voxceleb_version``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from avprep import storage
from avprep.clips import ClipError, ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, EmptyCorpusError, register
from avprep.datasets.splits import SplitOverrides, load_overrides, resolve_split
from avprep.datasets.transcripts import TranscriptSidecar, load_optional
from avprep.keys import clip_key

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm")
AUDIO_SUFFIXES = (".m4a", ".aac", ".wav")
VOX1_TEST_SPEAKERS = range(10270, 10310)  # id10270..id10309, the verification test set
IDEN_SPLIT = {"1": "train", "2": "val", "3": "test"}
EXAMPLE = "dev/mp4/id00012/21Uxsk56VDQ/00001.mp4 (+ dev/aac/id00012/21Uxsk56VDQ/00001.m4a)"

_CLIP = re.compile(r"(?:^|/)(id\d{5})/([^/]+)/([^/]+)\.[^./]+$")
_TEST_DIR = re.compile(r"(?:^|[_-])test(?:[_-]|$)", re.IGNORECASE)


def clip_id(rel: str) -> tuple[str, str, str] | None:
    """(speaker, YouTube id, clip number) of a VoxCeleb path, else None."""
    m = _CLIP.search(rel)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def version_of(speaker: str) -> int:
    return 1 if int(speaker[2:]) >= 10000 else 2


def parse_iden_split(text: str) -> dict[str, str]:
    """``speaker/ytid/n`` -> split from VoxCeleb1's ``iden_split.txt``."""
    out = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        parts = raw.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[0] not in IDEN_SPLIT:
            raise ValueError(
                f"iden_split line {n}: expected '<1|2|3> <id>/<ytid>/<n>.wav': {raw!r}"
            )
        ident = clip_id(parts[1])
        if ident is None:
            raise ValueError(f"iden_split line {n}: {parts[1]!r} is not <id>/<ytid>/<n>.wav")
        out["/".join(ident)] = IDEN_SPLIT[parts[0]]
    return out


def default_split(rel: str, ident: tuple[str, str, str], iden: dict[str, str] | None) -> str:
    speaker = ident[0]
    if version_of(speaker) == 1:
        if iden is not None and "/".join(ident) in iden:
            return iden["/".join(ident)]
        return "test" if int(speaker[2:]) in VOX1_TEST_SPEAKERS else "train"
    folders = rel.split("/")[:-3]  # the folders above <speaker>/<youtube id>/<n>
    if any(_TEST_DIR.search(p) for p in folders):
        return "test"
    return "train"


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@register
class VoxCelebAdapter(DatasetAdapter):
    name = "voxceleb"
    description = (
        "VoxCeleb1 + VoxCeleb2 (CRAN): speaker ids, official splits (dev/test folders; "
        "iden_split.txt or the verification split); separate aac/wav audio; transcripts "
        "from a --transcripts sidecar."
    )
    layout = (
        "dev/mp4/id00012/21Uxsk56VDQ/00001.mp4\n"
        "dev/aac/id00012/21Uxsk56VDQ/00001.m4a  (optional)\n"
        "test/mp4/id00017/01dfn2spqyE/00001.mp4\n"
        "mp4/id10001/1zcIwhmdeo4/00001.mp4 + wav/id10001/1zcIwhmdeo4/00001.wav  (VoxCeleb1)"
    )
    labels = ("youtube_id", "voxceleb_version")

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        if not root:
            raise EmptyCorpusError(f"voxceleb needs --root, the folder holding e.g. {EXAMPLE}")
        want = options.extra.get("version")
        if want not in (None, "1", "2"):
            raise ValueError(f"version must be 1 or 2, not {want!r}")
        videos: list[tuple[str, str, tuple[str, str, str]]] = []
        audio: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
        for path in storage.walk_files(root, (*VIDEO_SUFFIXES, *AUDIO_SUFFIXES)):
            rel = storage.relpath(path, root)
            ident = clip_id(rel)
            if ident is None or (want and str(version_of(ident[0])) != want):
                continue
            if rel.lower().endswith(AUDIO_SUFFIXES):
                audio.setdefault(ident, []).append((path, rel))
            else:
                videos.append((path, rel, ident))
        if not videos:
            where = "does not exist" if not storage.exists(root) else "holds no VoxCeleb videos"
            hint = (
                " (only audio found: VoxCeleb1 ships audio, cut the video clips from YouTube into"
                " mp4/<id>/<youtube id>/<n>.mp4)" if audio else ""
            )
            raise EmptyCorpusError(
                f"{root!r} {where}{hint}: expected <speaker id>/<youtube id>/NNNNN.mp4, "
                f"e.g. {EXAMPLE}"
            )
        iden_path = options.extra.get("iden_split")
        if iden_path is None and storage.exists(storage.join(root, "iden_split.txt")):
            iden_path = storage.join(root, "iden_split.txt")
        iden = parse_iden_split(storage.read_text(iden_path)) if iden_path else None
        sidecar = load_optional(options.transcripts)
        overrides = load_overrides(options.extra)

        with_video = set()
        for path, rel, ident in videos:
            with_video.add(ident)
            candidates = audio.get(ident, [])
            sound = None
            if candidates:  # the audio file whose path is closest to the video's
                sound = max(candidates, key=lambda c: _common_prefix(c[1], rel))[0]
            yield self._clip(path, rel, ident, sound, iden, sidecar, overrides, None)
        for ident, items in audio.items():
            if ident not in with_video:
                for path, rel in items:
                    yield self._clip(
                        path, rel, ident, path, iden, sidecar, overrides,
                        ClipError(
                            "missing_video",
                            f"no <speaker>/<youtube id>/<n>.mp4 for {rel} "
                            "(VoxCeleb1 ships audio only: cut the clips from YouTube)",
                        ),
                    )

    def _clip(
        self, path: str, rel: str, ident: tuple[str, str, str], sound: str | None,
        iden: dict[str, str] | None, sidecar: TranscriptSidecar | None,
        overrides: SplitOverrides | None, error: ClipError | None,
    ) -> ClipRef:
        speaker, youtube_id, _ = ident
        split = resolve_split(overrides, rel, speaker, default_split(rel, ident, iden))
        transcript = sidecar.lookup(rel, "/".join(ident)) if sidecar else None
        return ClipRef(
            key=clip_key(self.name, rel), dataset=self.name, split=split, source=path,
            audio=sound, speaker=speaker, transcript=transcript,
            labels={"youtube_id": youtube_id, "voxceleb_version": version_of(speaker)},
            error=error,
        )
