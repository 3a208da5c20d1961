"""TCD-TIMIT: 59 volunteers and 3 lipspeakers reading TIMIT sentences (CRAN).

Layout as distributed (one archive per speaker, unpacked under its group)::

    volunteers/01M/Clips/straightcam/sa1.mp4
    volunteers/01M/Clips/30degcam/sa1.mp4
    lipspeakers/Lipspkr1/Clips/straightcam/sx31.mp4

The clip name is the TIMIT sentence id (``sa1``, ``sx31``, ``si1391``). The
corpus ships no sentence text: the transcript comes from, in order, the
``--transcripts`` sidecar (clip path or sentence id), the user's copy of TIMIT's
``PROMPTS.TXT`` (``extra["prompts"]``, or ``PROMPTS.TXT`` at the corpus root;
lines ``<text> (<sentence id>)``), then the two SA sentences bundled with avprep
(``avprep/data/timit_prompts_sa.txt``). A clip whose sentence is in none of them
has ``transcript=None`` (the aligner then rejects it with its own reason).

Camera: ``extra["camera"]`` = ``straightcam`` (default, the frontal view CRAN
used), ``30degcam`` or ``all``. Labels: ``sentence``, ``camera``,
``speaker_group`` (volunteer or lipspeaker).

Split: the TCD-TIMIT paper's speaker-independent volunteer split (70/30): the 17
test volunteers in ``TEST_VOLUNTEERS`` are ``test``, every other volunteer is
``train``. The paper evaluates the lipspeakers separately; here they are
``train`` (move them with a split file, e.g. ``Lipspkr3 test``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources

from avprep import storage
from avprep.clips import ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, EmptyCorpusError, register
from avprep.datasets.splits import load_overrides, resolve_split
from avprep.datasets.transcripts import load_optional
from avprep.keys import clip_key

TEST_VOLUNTEERS = frozenset({
    "13F", "15F", "21M", "23M", "24M", "25M", "28M", "29M", "30F",
    "31F", "34M", "36F", "37F", "43F", "47M", "51F", "54M",
})
GROUPS = {"volunteers": "volunteer", "lipspeakers": "lipspeaker"}
CAMERAS = ("straightcam", "30degcam")
EXAMPLE = "volunteers/01M/Clips/straightcam/sa1.mp4"

_PROMPT = re.compile(r"^(.*\S)\s*\(([A-Za-z]{2}\d+)\)\s*$")


def parse_prompts(text: str) -> dict[str, str]:
    """Sentence id -> text from TIMIT's PROMPTS.TXT format (``;`` lines are comments)."""
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        m = _PROMPT.match(line)
        if m:
            out[m.group(2).lower()] = m.group(1)
    return out


def bundled_prompts() -> dict[str, str]:
    ref = resources.files("avprep") / "data" / "timit_prompts_sa.txt"
    return parse_prompts(ref.read_text(encoding="utf-8"))


def _parse_path(rel: str) -> tuple[str, str, str, str] | None:
    """(group, speaker, camera, sentence id) of a TCD-TIMIT clip path, else None."""
    parts = rel.split("/")
    for i, p in enumerate(parts[:-2]):
        if p.lower() in GROUPS:
            camera = next((c for c in parts[i + 2 : -1] if c.lower() in CAMERAS), None)
            if camera is None:
                return None
            sentence = parts[-1].rsplit(".", 1)[0].lower()
            return GROUPS[p.lower()], parts[i + 1], camera.lower(), sentence
    return None


@register
class TcdTimitAdapter(DatasetAdapter):
    name = "tcdtimit"
    description = (
        "TCD-TIMIT (CRAN): volunteers and lipspeakers reading TIMIT sentences; transcripts "
        "from TIMIT prompts; the paper's speaker-independent split (17 test volunteers)."
    )
    layout = (
        "volunteers/01M/Clips/straightcam/sa1.mp4\n"
        "lipspeakers/Lipspkr1/Clips/straightcam/sx31.mp4\n"
        "PROMPTS.TXT  (optional: TIMIT's sentence prompts, '<text> (<sentence id>)')"
    )
    labels = ("sentence", "camera", "speaker_group")

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        if not root:
            raise EmptyCorpusError(f"tcdtimit needs --root, the folder holding e.g. {EXAMPLE}")
        camera = options.extra.get("camera", "straightcam").lower()
        if camera not in (*CAMERAS, "all"):
            raise ValueError(f"camera must be straightcam, 30degcam or all, not {camera!r}")
        clips = []
        for path in storage.walk_files(root, (".mp4",)):
            rel = storage.relpath(path, root)
            parsed = _parse_path(rel)
            if parsed is not None and (camera == "all" or parsed[2] == camera):
                clips.append((path, rel, parsed))
        if not clips:
            where = "does not exist" if not storage.exists(root) else "holds no TCD-TIMIT clips"
            raise EmptyCorpusError(
                f"{root!r} {where} (camera {camera}): expected "
                f"{{volunteers,lipspeakers}}/<speaker>/Clips/{{straightcam,30degcam}}/<sentence>.mp4,"
                f" e.g. {EXAMPLE}"
            )
        prompts = bundled_prompts()
        prompts_path = options.extra.get("prompts")
        if prompts_path is None:
            for name in ("PROMPTS.TXT", "prompts.txt", "PROMPTS.txt"):
                candidate = storage.join(root, name)
                if storage.exists(candidate):
                    prompts_path = candidate
                    break
        if prompts_path is not None:
            prompts.update(parse_prompts(storage.read_text(prompts_path)))
        sidecar = load_optional(options.transcripts)
        overrides = load_overrides(options.extra)
        for path, rel, (group, speaker, cam, sentence) in clips:
            default = "test" if group == "volunteer" and speaker in TEST_VOLUNTEERS else "train"
            transcript = sidecar.lookup(rel, sentence) if sidecar else None
            if transcript is None:
                transcript = prompts.get(sentence)
            yield ClipRef(
                key=clip_key(self.name, rel), dataset=self.name,
                split=resolve_split(overrides, rel, speaker, default), source=path,
                speaker=speaker, transcript=transcript,
                labels={"sentence": sentence, "camera": cam, "speaker_group": group},
            )
