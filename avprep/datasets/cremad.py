"""CREMA-D: 91 actors, 12 sentences, 6 emotions at up to 4 intensities (DVAE).

Layout as distributed (the CREMA-D repository)::

    VideoFlash/1001_DFA_ANG_XX.flv     video (with its own audio track)
    AudioWAV/1001_DFA_ANG_XX.wav       the clip's audio as a separate 16 kHz wav

File names are ``<actor>_<sentence>_<emotion>_<intensity>``: actor 1001..1091,
one of the 12 sentence codes (``SENTENCES``), emotion ANG DIS FEA HAP NEU SAD,
intensity LO MD HI or XX (unspecified). Labels: ``sentence`` (code),
``emotion`` (code), ``emotion_id`` (index in ``EMOTIONS``), ``intensity``
(code); the transcript is the sentence's text. The separate wav is the clip's
``audio`` when present. A name that does not parse, or carries an unknown code,
is rejected with ``bad_metadata``; a wav without its video with ``missing_video``.

Split: no official one. DVAE's 73-9-9 actor-wise split, made reproducible by
:func:`avprep.datasets.splits.speaker_split` over actors 1001..1091 (``CREMAD_SPLIT``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources

from avprep import storage
from avprep.clips import ClipError, ClipRef
from avprep.datasets.base import DatasetAdapter, DiscoverOptions, EmptyCorpusError, register
from avprep.datasets.splits import (
    SplitOverrides,
    load_overrides,
    resolve_split,
    speaker_split,
)
from avprep.keys import clip_key
from avprep.labels import EMOTION_INTENSITIES, EMOTION_NAMES, EMOTIONS  # noqa: F401 (re-export)

INTENSITIES = EMOTION_INTENSITIES
ACTORS = tuple(str(a) for a in range(1001, 1092))
CREMAD_SPLIT = speaker_split(ACTORS, (73, 9, 9), salt="avprep-cremad-v1")
VIDEO_SUFFIXES = (".flv", ".mp4")
EXAMPLE = "VideoFlash/1001_DFA_ANG_XX.flv with AudioWAV/1001_DFA_ANG_XX.wav"

_NAME = re.compile(r"^(\d{4})_([A-Za-z]{3})_([A-Za-z]{3})_([A-Za-z]{2})$")


def load_sentences() -> dict[str, str]:
    """The 12 CREMA-D sentence codes and their text (``avprep/data/cremad_sentences.json``)."""
    ref = resources.files("avprep") / "data" / "cremad_sentences.json"
    return json.loads(ref.read_text(encoding="utf-8"))


SENTENCES = load_sentences()


def parse_name(stem: str) -> dict:
    """Labels from a CREMA-D file stem; ValueError with the reason when it does not parse."""
    m = _NAME.match(stem)
    if m is None:
        raise ValueError(f"{stem!r} is not <actor>_<sentence>_<emotion>_<intensity>")
    actor, sentence, emotion, intensity = m.group(1), *(g.upper() for g in m.groups()[1:])
    if sentence not in SENTENCES:
        raise ValueError(f"unknown sentence code {sentence!r} (known: {', '.join(SENTENCES)})")
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion code {emotion!r} (known: {', '.join(EMOTIONS)})")
    if intensity not in INTENSITIES:
        raise ValueError(f"unknown intensity code {intensity!r} (known: {', '.join(INTENSITIES)})")
    return {
        "actor": actor, "sentence": sentence, "emotion": emotion,
        "emotion_id": EMOTIONS.index(emotion), "intensity": intensity,
    }


def _stem(rel: str) -> str:
    return rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]


@register
class CremaDAdapter(DatasetAdapter):
    name = "cremad"
    description = (
        "CREMA-D (DVAE): 91 actors, 12 sentences, 6 emotions; .flv video with separate "
        "AudioWAV/*.wav; actor-wise 73-9-9 split (deterministic, overridable)."
    )
    layout = (
        "VideoFlash/1001_DFA_ANG_XX.flv\n"
        "AudioWAV/1001_DFA_ANG_XX.wav  (<actor>_<sentence>_<emotion ANG|DIS|FEA|HAP|NEU|SAD>_"
        "<intensity LO|MD|HI|XX>)"
    )
    labels = ("sentence", "emotion", "emotion_id", "intensity")

    def discover(self, root: str | None, options: DiscoverOptions) -> Iterator[ClipRef]:
        if not root:
            raise EmptyCorpusError(f"cremad needs --root, the folder holding e.g. {EXAMPLE}")
        videos: list[tuple[str, str]] = []
        wavs: dict[str, tuple[str, str]] = {}
        for path in storage.walk_files(root, (*VIDEO_SUFFIXES, ".wav")):
            rel = storage.relpath(path, root)
            if rel.lower().endswith(".wav"):
                wavs.setdefault(_stem(rel), (path, rel))
            else:
                videos.append((path, rel))
        if not videos:
            where = "does not exist" if not storage.exists(root) else "holds no CREMA-D videos"
            hint = " (only AudioWAV found: the video is in VideoFlash/)" if wavs else ""
            raise EmptyCorpusError(
                f"{root!r} {where}{hint}: expected VideoFlash/*.flv and AudioWAV/*.wav, "
                f"e.g. {EXAMPLE}"
            )
        overrides = load_overrides(options.extra)
        video_stems = set()
        for path, rel in videos:
            stem = _stem(rel)
            video_stems.add(stem)
            audio = wavs.get(stem, (None, None))[0]
            yield self._clip(path, rel, stem, audio, overrides)
        for stem, (path, rel) in wavs.items():
            if stem not in video_stems:
                ref = self._clip(path, rel, stem, path, overrides)
                yield ClipRef(
                    key=ref.key, dataset=ref.dataset, split=ref.split, source=path,
                    audio=path, speaker=ref.speaker, transcript=ref.transcript,
                    labels=ref.labels,
                    error=ref.error
                    or ClipError("missing_video", f"no VideoFlash/{stem}.flv for {rel}"),
                )

    def _clip(
        self, path: str, rel: str, stem: str, audio: str | None, overrides: SplitOverrides | None
    ) -> ClipRef:
        key = clip_key(self.name, rel)
        try:
            labels = parse_name(stem)
        except ValueError as e:
            actor = stem.split("_", 1)[0]
            speaker = actor if actor.isdigit() else None
            split = resolve_split(overrides, rel, speaker, CREMAD_SPLIT.get(actor, "train"))
            return ClipRef(
                key=key, dataset=self.name, split=split, source=path, audio=audio,
                speaker=speaker, error=ClipError("bad_metadata", f"{rel}: {e}"),
            )
        actor = labels.pop("actor")
        split = resolve_split(overrides, rel, actor, CREMAD_SPLIT.get(actor, "train"))
        return ClipRef(
            key=key, dataset=self.name, split=split, source=path, audio=audio, speaker=actor,
            transcript=SENTENCES[labels["sentence"]], labels=labels,
        )
