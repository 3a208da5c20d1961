"""The bundled demo corpus: real speech under real faces, made offline at first use.

``avprep build demo`` needs no ``--root``: the corpus is composed from the bundled LibriVox
recordings, scikit-image's astronaut photo and matplotlib's Grace Hopper portrait (by the
media composer beside this adapter, :mod:`avprep.datasets.demo_media`) into
``$AVPREP_HOME/_corpora/demo``, then read part by part, each with the labels its trainer needs:

- ``talking`` (6 clips, read like any folder of videos with transcripts): speaker,
  transcript, emotion ``NEU`` (CREMA-D code and ``emotion_id``);
- ``words`` (read as LRW): LRW-style 29-frame clips with ``word``, ``word_id`` (from the
  demo's ``word_list.txt``), ``word_span``, emotion ``NEU``;
- ``identities`` (read as identity folders): ``kind="identity"`` samples with
  ``person_id``.

``--option parts=talking,words`` builds only some parts (default: all three).
``--split-file`` moves talking clips (``speaker1/clip02 test``: paths relative to the demo
root, or a speaker folder) and word clips (LRW paths, ``DISPOSED/train/DISPOSED_00001``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from avprep import storage
from avprep.clips import ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, register
from avprep.datasets.cremad import EMOTIONS
from avprep.datasets.demo_media import (
    DEMO_PARTS,
    IDENTITIES_DIR,
    WORD_LIST,
    WORDS_DIR,
    make_demo_corpus,
)
from avprep.datasets.folder import discover_folder
from avprep.datasets.identity import IdentityAdapter
from avprep.datasets.lrw import LRWAdapter
from avprep.datasets.splits import load_overrides
from avprep.keys import clip_key
from avprep.paths import avprep_home

NEUTRAL = {"emotion": "NEU", "emotion_id": EMOTIONS.index("NEU")}


def demo_parts(options: DiscoverOptions) -> tuple[str, ...]:
    """The parts named by ``--option parts=...`` (default: every part)."""
    text = options.extra.get("parts")
    if not text:
        return DEMO_PARTS
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = sorted(set(parts) - set(DEMO_PARTS))
    if unknown or not parts:
        raise ValueError(f"--option parts={text}: choose from {', '.join(DEMO_PARTS)}")
    return parts


@register
class DemoAdapter(DatasetAdapter):
    name = "demo"
    description = (
        "Bundled, made offline: 6 talking clips (LibriVox speech under a real face), "
        "LRW-style word clips and identity photos (parts=talking,words,identities)."
    )
    layout = (
        "(made for you) $AVPREP_HOME/_corpora/demo/speaker1/clip00.mp4 + clip00.txt\n"
        "lipread_mp4/DISPOSED/train/DISPOSED_00001.mp4 + .txt (LRW format), word_list.txt\n"
        "identities/astronaut/00_original.jpg ..."
    )
    labels = ("speaker", "transcript", "emotion", "word", "word_id", "person_id")
    needs_root = False

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        root = root or str(avprep_home() / "_corpora" / "demo")
        parts = demo_parts(options)
        make_demo_corpus(root, parts=parts)
        if "talking" in parts:
            for ref in discover_folder(self.name, root, load_overrides(options.extra)):
                rel = storage.relpath(ref.source, root)
                if rel.split("/", 1)[0] in (WORDS_DIR, IDENTITIES_DIR):
                    continue
                yield dataclasses.replace(ref, labels={**ref.labels, **NEUTRAL})
        if "words" in parts:
            words_root = storage.join(root, WORDS_DIR)
            lrw_extra = {"word_list": storage.join(root, WORD_LIST)}
            if options.extra.get("split_file"):
                lrw_extra["split_file"] = options.extra["split_file"]
            lrw = DiscoverOptions(extra=lrw_extra)
            for ref in LRWAdapter().discover(words_root, lrw):
                yield self._own(ref, root, {**ref.labels, **NEUTRAL})
        if "identities" in parts:
            faces_root = storage.join(root, IDENTITIES_DIR)
            for ref in IdentityAdapter().discover(faces_root, DiscoverOptions()):
                rel = f"{IDENTITIES_DIR}/{ref.labels['person']}/*"
                yield dataclasses.replace(ref, key=clip_key(self.name, rel), dataset=self.name)

    def _own(self, ref: ClipRef, root: str, labels: dict) -> ClipRef:
        """A ref another adapter discovered, keyed and labelled as a demo clip."""
        rel = storage.relpath(ref.source, root)
        return dataclasses.replace(
            ref, key=clip_key(self.name, rel), dataset=self.name, labels=labels
        )
