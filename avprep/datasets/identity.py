"""Identity faces: one folder of face images per person (DAVS's person-id space).

DAVS trains its identity branch on an MS-Celeb-1M subset, i.e. still images
grouped by person. Layout::

    m.0107_f/1-FaceId-0.jpg
    m.0107_f/2-FaceId-0.jpg
    m.01_0j/1-FaceId-0.jpg

Every first-level folder is one person; its images (``.jpg .jpeg .png .bmp
.webp``, at any depth inside it) are one ``ClipRef`` with ``kind="identity"``
and ``images`` = the sorted image paths (``source`` is the first). One sample
per person, because DAVS's label is the person id and its identity loss draws
several faces of the same person. ``labels["person_id"]`` is the index of the
folder in the sorted list of person folders found (with at least one image);
``labels["person"]`` and ``speaker`` are the folder name; the key is
``clip_key("identity", "<person>/*")`` (the folder's images). All persons are
``train`` unless a split file (``extra["split_file"]``, by folder name) says
otherwise. An image directly at the root belongs to no person: it is reported
as rejected (``bad_layout``).
"""

from __future__ import annotations

from collections.abc import Iterator

from avprep import storage
from avprep.clips import ClipError, ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, EmptyCorpusError, register
from avprep.datasets.splits import load_overrides, resolve_split
from avprep.keys import clip_key

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
EXAMPLE = "m.0107_f/1-FaceId-0.jpg"


@register
class IdentityAdapter(DatasetAdapter):
    name = "identity"
    description = (
        "Identity faces (DAVS person ids, e.g. an MS-Celeb-1M subset): one folder of face "
        "images per person -> one identity sample per person, person_id = sorted folder index."
    )
    layout = "m.0107_f/1-FaceId-0.jpg\nm.0107_f/2-FaceId-0.jpg\nm.01_0j/1-FaceId-0.jpg"
    labels = ("person_id", "person")

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        if not root:
            raise EmptyCorpusError(f"identity needs --root, the folder holding e.g. {EXAMPLE}")
        persons: dict[str, list[str]] = {}
        loose: list[tuple[str, str]] = []
        for path in storage.walk_files(root, IMAGE_SUFFIXES):
            rel = storage.relpath(path, root)
            if "/" not in rel:
                loose.append((path, rel))
            else:
                persons.setdefault(rel.split("/", 1)[0], []).append(path)
        if not persons:
            where = "does not exist" if not storage.exists(root) else "holds no person folders"
            raise EmptyCorpusError(
                f"{root!r} {where}: expected one folder of face images per person, "
                f"e.g. {EXAMPLE}"
            )
        overrides = load_overrides(options.extra)
        for path, rel in loose:
            yield ClipRef(
                key=clip_key(self.name, rel), dataset=self.name, split="train", source=path,
                kind="identity", images=(path,),
                error=ClipError(
                    "bad_layout", f"{rel} is not inside a person folder (<person>/<image>)"
                ),
            )
        for person_id, person in enumerate(sorted(persons)):
            images = tuple(sorted(persons[person]))
            yield ClipRef(
                key=clip_key(self.name, f"{person}/*"), dataset=self.name,
                split=resolve_split(overrides, person, person, "train"), source=images[0],
                speaker=person, labels={"person_id": person_id, "person": person},
                kind="identity", images=images,
            )
