"""Tiny corpora in the exact layouts and metadata formats the real ones are distributed in.

One ``make_<corpus>(root) -> Path`` per adapter writes a few ~1 s clips of real
media: scikit-image's astronaut photo or matplotlib's Grace Hopper portrait (both public
domain), animated by :func:`avprep.datasets.demo_media.write_talking_clip`, over
LibriVox speech from ``avprep/data/speech``. Containers and codecs follow the
corpus: GRID MPEG-1 ``.mpg`` (+ a 25 kHz ``.wav``), CREMA-D Sorenson ``.flv``
at 30 fps with MP3 audio + ``AudioWAV/*.wav``, VoxCeleb2 H.264 ``.mp4`` + AAC
``.m4a``, TCD-TIMIT ``.mp4`` at 29.97 fps, identity faces as JPEG folders.

Metadata content follows the speech actually in each clip where the format
allows it: LRW ``Duration:``, GRID ``.align`` and LRS3 word rows carry the
words and times of the LibriVox recording (from pocketsphinx's reference
alignments in ``tests/data``). Where the corpus fixes the text (CREMA-D's 12
sentences, TIMIT's SA prompts, GRID's file-name code) it cannot match LibriVox
speech: those clips have ``speech_matches_transcript=False``.

``expected(corpus)`` lists what discovery must report for every clip, and
``options(corpus, root)`` the :class:`DiscoverOptions` the fixture needs (the
VoxCeleb transcript sidecar). ``malformed=True`` (the default) adds the
corpus's malformed-metadata cases, which must come out rejected with the
reason code in ``ExpectedClip.error``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import soundfile as sf
import soxr

from avprep.datasets.base import DiscoverOptions
from avprep.datasets.demo_media import face_photo, speech_assets, write_talking_clip
from avprep.keys import clip_key

REF_DIR = Path(__file__).resolve().parents[1] / "data"
SR = 16000


# ---------------------------------------------------------------- media sources


@cache
def _speech() -> dict[str, np.ndarray]:
    return {a.name.rsplit("_", 1)[-1]: a.audio for a in speech_assets()}


@cache
def word_times(rec: str) -> list[tuple[str, float, float]]:
    """(word, start, end) of LibriVox recording ``rec`` (``0880`` ...) per pocketsphinx's
    reference alignment; pronunciation variants ``was(2)`` are reduced to the word."""
    data = json.loads((REF_DIR / f"pocketsphinx_ref_{rec}.phone.json").read_text())
    out = []
    for w in data["w"]:
        if w["t"] in ("<sil>", "<s>", "</s>"):
            continue
        out.append((w["t"].split("(")[0], round(w["b"], 3), round(w["b"] + w["d"], 3)))
    return out


def speech_window(rec: str, start: float, end: float) -> tuple[np.ndarray, list]:
    """Audio of ``rec`` from ``start`` to ``end`` s (zero-padded past its end) and the words
    lying wholly inside, with times relative to ``start``."""
    audio = _speech()[rec]
    a, b = int(round(start * SR)), int(round(end * SR))
    seg = np.zeros(b - a, np.float32)
    piece = audio[max(a, 0) : min(b, len(audio))]
    seg[max(0, -a) : max(0, -a) + len(piece)] = piece
    words = [
        (w, round(s - start, 3), round(e - start, 3))
        for w, s, e in word_times(rec)
        if s >= start - 1e-9 and e <= end + 1e-9
    ]
    return seg, words


@cache
def grace_hopper() -> np.ndarray:
    """matplotlib's sample portrait of Grace Hopper (public domain), RGB uint8."""
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def face(which: str) -> np.ndarray:
    return grace_hopper() if which == "hopper" else face_photo()


@dataclass(frozen=True)
class Media:
    """How one fixture video is written."""

    size: tuple[int, int] = (224, 224)
    fps: float | Fraction = 25
    video_codec: str = "libx264"
    audio_codec: str = "aac"
    audio_rate: int | None = None


MP4 = Media()
LRW_MEDIA = Media(size=(256, 256))
GRID_MEDIA = Media(size=(360, 288), video_codec="mpeg1video", audio_codec="mp2", audio_rate=44100)
CREMAD_MEDIA = Media(size=(480, 360), fps=30, video_codec="flv", audio_codec="libmp3lame")
TCD_MEDIA = Media(size=(480, 270), fps=Fraction(30000, 1001))


def write_video(
    path: Path, audio: np.ndarray, media: Media, seed: int, who: str = "astronaut",
    n_frames: int | None = None,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_talking_clip(
        path, face(who), audio, SR, fps=media.fps, size=media.size, n_frames=n_frames,
        video_codec=media.video_codec, audio_codec=media.audio_codec,
        audio_rate=media.audio_rate, seed=seed,
    )


def write_audio(path: Path, audio: np.ndarray, rate: int = SR) -> None:
    """``.wav`` (16-bit PCM at ``rate``) or ``.m4a`` (AAC, via the same muxer as the videos)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".wav":
        data = audio if rate == SR else soxr.resample(audio, SR, rate).astype(np.float32)
        sf.write(str(path), data, rate, subtype="PCM_16")
    else:
        write_talking_clip(path, None, audio, SR)


# ---------------------------------------------------------------- expectations


@dataclass(frozen=True)
class ExpectedClip:
    """What discovery must yield for one clip of a fixture corpus."""

    relpath: str  # the clip's source, relative to the root
    split: str
    speaker: str | None = None
    transcript: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)  # must be equal in ClipRef.labels
    audio: str | None = None  # relpath of the separate audio file
    error: str | None = None  # reason code the clip is rejected with
    speech_matches_transcript: bool = True
    kind: str = "clip"
    images: tuple[str, ...] = ()  # relpaths, identity samples
    key_path: str | None = None  # path the key is made from, when not ``relpath``

    def key(self, dataset: str) -> str:
        return clip_key(dataset, self.key_path or self.relpath)


@dataclass(frozen=True)
class Corpus:
    name: str  # adapter name
    make: Callable[..., Path]
    expected: Callable[..., list[ExpectedClip]]
    options: Callable[[Path], DiscoverOptions]


def _no_options(root: Path) -> DiscoverOptions:
    return DiscoverOptions()


# ---------------------------------------------------------------- LRW

# (word, split, n, recording): each clip is the 1.16 s around the word in the recording.
_LRW = [
    ("DISPOSED", "train", 1, "0880"),
    ("DISPOSED", "test", 1, "0890"),  # same file name as the train clip, other folder
    ("HIMSELF", "val", 1, "0930"),
    ("SELFISH", "train", 1, "0890"),
]
_LRW_BAD = ("DISPOSED", "val", 2, "0880")  # its .txt has no Duration line
LRW_WORDS = ("DISPOSED", "HIMSELF", "SELFISH")


def _lrw_word(word: str, rec: str) -> tuple[float, float]:
    return next((s, e) for w, s, e in word_times(rec) if w.upper() == word)


def _lrw_rel(word: str, split: str, n: int) -> str:
    return f"lipread_mp4/{word}/{split}/{word}_{n:05d}.mp4"


def make_lrw(root: Path, malformed: bool = True) -> Path:
    rows = [*_LRW, _LRW_BAD] if malformed else _LRW
    for i, (word, split, n, rec) in enumerate(rows):
        s, e = _lrw_word(word, rec)
        mid = (s + e) / 2
        audio, _ = speech_window(rec, mid - 0.58, mid + 0.58)
        video = root / _lrw_rel(word, split, n)
        write_video(video, audio, LRW_MEDIA, seed=i, n_frames=29)
        meta = f"Text:  {word}\nConf:  5\n"
        if (word, split, n, rec) != _LRW_BAD:
            meta += f"Duration: {e - s:.2f} seconds\n"
        video.with_suffix(".txt").write_text(meta)
    return root


def expected_lrw(malformed: bool = True) -> list[ExpectedClip]:
    out = []
    for word, split, n, rec in _LRW:
        s, e = _lrw_word(word, rec)
        d = round(e - s, 2)
        out.append(ExpectedClip(
            _lrw_rel(word, split, n), split, None, word,
            {"word": word, "word_id": LRW_WORDS.index(word),
             "word_span": [round(0.58 - d / 2, 6), round(0.58 + d / 2, 6)]},
        ))
    if malformed:
        word, split, n, _ = _LRW_BAD
        out.append(ExpectedClip(
            _lrw_rel(word, split, n), split, None, word, {"word": word, "word_id": 0},
            error="bad_metadata",
        ))
    return out


# ---------------------------------------------------------------- GRID

# (speaker, utterance, recording, window, with .align, with separate .wav)
_GRID = [
    ("s1", "bbaf2n", "0880", (0.0, 1.5), True, True),
    ("s2", "bbaf2n", "0930", (0.0, 1.2), False, False),  # no .align: text from the name
    ("s22", "pwij7a", "0930", (0.0, 1.2), True, False),
    ("s28", "sgbc5s", "0890", (0.2, 1.3), True, False),
]
_GRID_BAD = ("s1", "lrae3p", "0890", (0.2, 1.3), True, False)  # broken .align line
GRID_WAV_RATE = 25000


def _align_lines(words: list, length: float) -> list[str]:
    """GRID .align rows: sil before/after, sp in gaps between words, 1/25000 s units."""
    u = 25000
    rows, t = [], 0.0
    for i, (w, s, e) in enumerate(words):
        if s > t + 1e-6:
            rows.append((t, s, "sil" if i == 0 else "sp"))
        rows.append((s, e, w))
        t = e
    rows.append((t, length, "sil"))
    return [f"{round(a * u)} {round(b * u)} {w}" for a, b, w in rows]


def make_grid(root: Path, malformed: bool = True) -> Path:
    rows = [*_GRID, _GRID_BAD] if malformed else _GRID
    for i, (spk, utt, rec, (a, b), has_align, has_wav) in enumerate(rows):
        audio, words = speech_window(rec, a, b)
        write_video(root / spk / f"{utt}.mpg", audio, GRID_MEDIA, seed=10 + i,
                    who="hopper" if spk == "s2" else "astronaut")
        if has_align:
            lines = _align_lines(words, b - a)
            if (spk, utt) == _GRID_BAD[:2]:
                lines[1] = lines[1].rsplit(" ", 1)[0]  # "start end" without the word
            align = root / "align" / spk / f"{utt}.align"
            align.parent.mkdir(parents=True, exist_ok=True)
            align.write_text("\n".join(lines) + "\n")
        if has_wav:
            write_audio(root / "audio" / spk / f"{utt}.wav", audio, GRID_WAV_RATE)
    return root


def expected_grid(malformed: bool = True) -> list[ExpectedClip]:
    from avprep.datasets.grid import GRID_SPLIT

    out = []
    for spk, utt, rec, (a, b), has_align, has_wav in _GRID:
        _, words = speech_window(rec, a, b)
        labels: dict[str, Any] = {"sentence": utt, "emotion": "NEU"}
        if has_align:
            labels["word_timings"] = [[s, e, w] for w, s, e in words]
            text = " ".join(w for w, _, _ in words)
        else:
            text = "bin blue at f two now"
        out.append(ExpectedClip(
            f"{spk}/{utt}.mpg", GRID_SPLIT[spk], spk, text, labels,
            audio=f"audio/{spk}/{utt}.wav" if has_wav else None,
            speech_matches_transcript=has_align,
        ))
    if malformed:
        spk, utt = _GRID_BAD[:2]
        out.append(ExpectedClip(f"{spk}/{utt}.mpg", GRID_SPLIT[spk], spk,
                                labels={"sentence": utt}, error="bad_metadata",
                                speech_matches_transcript=False))
    return out


# ---------------------------------------------------------------- CREMA-D

# (name, recording, window, with AudioWAV)
_CREMAD = [
    ("1001_DFA_ANG_XX", "0880", (0.0, 1.1), True),
    ("1001_IWW_NEU_XX", "0930", (0.0, 1.1), False),  # video only (the flv has audio)
    ("1002_IEO_HAP_HI", "0890", (0.2, 1.3), True),
    ("1008_TSI_SAD_LO", "0930", (0.1, 1.2), True),
]
_CREMAD_BAD_EMOTION = ("1003_DFA_XYZ_XX", "0880", (0.0, 1.1), True)
_CREMAD_WAV_ONLY = ("1004_ITS_FEA_MD", "0890", (0.2, 1.3))


def make_cremad(root: Path, malformed: bool = True) -> Path:
    rows = [*_CREMAD, _CREMAD_BAD_EMOTION] if malformed else _CREMAD
    for i, (name, rec, (a, b), has_wav) in enumerate(rows):
        audio, _ = speech_window(rec, a, b)
        write_video(root / "VideoFlash" / f"{name}.flv", audio, CREMAD_MEDIA, seed=20 + i,
                    who="hopper" if name.startswith("1002") else "astronaut")
        if has_wav:
            write_audio(root / "AudioWAV" / f"{name}.wav", audio)
    if malformed:
        name, rec, (a, b) = _CREMAD_WAV_ONLY
        write_audio(root / "AudioWAV" / f"{name}.wav", speech_window(rec, a, b)[0])
    return root


def expected_cremad(malformed: bool = True) -> list[ExpectedClip]:
    from avprep.datasets.cremad import CREMAD_SPLIT, EMOTIONS, SENTENCES

    out = []
    for name, _, _, has_wav in _CREMAD:
        actor, sentence, emotion, intensity = name.split("_")
        out.append(ExpectedClip(
            f"VideoFlash/{name}.flv", CREMAD_SPLIT[actor], actor, SENTENCES[sentence],
            {"sentence": sentence, "emotion": emotion, "emotion_id": EMOTIONS.index(emotion),
             "intensity": intensity},
            audio=f"AudioWAV/{name}.wav" if has_wav else None,
            speech_matches_transcript=False,
        ))
    if malformed:
        name = _CREMAD_BAD_EMOTION[0]
        out.append(ExpectedClip(
            f"VideoFlash/{name}.flv", CREMAD_SPLIT["1003"], "1003", None,
            audio=f"AudioWAV/{name}.wav", error="bad_metadata", speech_matches_transcript=False,
        ))
        name = _CREMAD_WAV_ONLY[0]
        out.append(ExpectedClip(
            f"AudioWAV/{name}.wav", CREMAD_SPLIT["1004"], "1004", SENTENCES["ITS"],
            {"sentence": "ITS", "emotion": "FEA", "emotion_id": 2, "intensity": "MD"},
            audio=f"AudioWAV/{name}.wav", error="missing_video", speech_matches_transcript=False,
        ))
    return out


# ---------------------------------------------------------------- TCD-TIMIT

# (relpath, recording, window, camera, included by default)
_TCD = [
    ("volunteers/01M/Clips/straightcam/sa1.mp4", "0880", (0.0, 1.1)),
    ("volunteers/01M/Clips/straightcam/sx31.mp4", "0930", (0.0, 1.35)),
    ("volunteers/01M/Clips/30degcam/sx31.mp4", "0930", (0.0, 1.35)),  # other camera
    ("volunteers/13F/Clips/straightcam/sx31.mp4", "0930", (0.0, 1.35)),  # a test volunteer
    ("volunteers/13F/Clips/straightcam/sx99.mp4", "0890", (0.2, 1.3)),  # not in the prompts
    ("lipspeakers/Lipspkr1/Clips/straightcam/si1391.mp4", "0890", (0.2, 1.3)),
]
# The fixture's PROMPTS.TXT (TIMIT's format) gives these ids the words actually spoken.
_TCD_PROMPTS = {"sx31": ("0930", (0.0, 1.35)), "si1391": ("0890", (0.2, 1.3))}


def _tcd_prompt(sid: str) -> str:
    rec, (a, b) = _TCD_PROMPTS[sid]
    words = [w for w, _, _ in speech_window(rec, a, b)[1]]
    return " ".join(words).capitalize() + "."


def make_tcdtimit(root: Path, malformed: bool = True) -> Path:
    for i, (rel, rec, (a, b)) in enumerate(_TCD):
        audio, _ = speech_window(rec, a, b)
        write_video(root / rel, audio, TCD_MEDIA, seed=30 + i,
                    who="hopper" if "/13F/" in rel else "astronaut")
    lines = ["; TIMIT PROMPTS.TXT format: <text> (<sentence id>)", ";"]
    lines += [f"{_tcd_prompt(sid)} ({sid})" for sid in _TCD_PROMPTS]
    (root / "PROMPTS.TXT").write_text("\n".join(lines) + "\n")
    return root


def expected_tcdtimit(malformed: bool = True, camera: str = "straightcam") -> list[ExpectedClip]:
    from avprep.datasets.tcdtimit import bundled_prompts

    sa = bundled_prompts()
    out = []
    for rel, _, _ in _TCD:
        parts = rel.split("/")
        group, speaker, cam, sid = parts[0], parts[1], parts[3], parts[4][:-4]
        if camera != "all" and cam != camera:
            continue
        text = _tcd_prompt(sid) if sid in _TCD_PROMPTS else sa.get(sid)
        split = "test" if speaker == "13F" else "train"
        out.append(ExpectedClip(
            rel, split, speaker, text,
            {"sentence": sid, "camera": cam, "speaker_group": group.rstrip("s")},
            speech_matches_transcript=sid in _TCD_PROMPTS,
        ))
    return out


# ---------------------------------------------------------------- LRS3

# (relpath, recording, window)
_LRS3 = [
    ("trainval/0Fi83BHQsMA/00002.mp4", "0880", (0.1, 1.3)),
    ("test/0Fi83BHQsMA/00002.mp4", "0930", (0.1, 1.2)),  # same video id + name, other split
    ("pretrain/5KVzxjqqKuA/00001.mp4", "0890", (0.2, 1.3)),
]
_LRS3_BAD = ("trainval/0Fi83BHQsMA/00003.mp4", "0930", (0.1, 1.2))  # a word row lacks fields
_LRS3_SPLIT = {"trainval": "train", "test": "test", "pretrain": "pretrain"}


def make_lrs3(root: Path, malformed: bool = True) -> Path:
    rows = [*_LRS3, _LRS3_BAD] if malformed else _LRS3
    for i, (rel, rec, (a, b)) in enumerate(rows):
        audio, words = speech_window(rec, a, b)
        write_video(root / rel, audio, MP4, seed=40 + i)
        text = " ".join(w.upper() for w, _, _ in words)
        lines = [f"Text:  {text}", "Conf:  4", "", "WORD START END ASDSCORE"]
        lines += [f"{w.upper()} {s:.2f} {e:.2f} {5.1 + 0.3 * j:.1f}"
                  for j, (w, s, e) in enumerate(words)]
        if rel == _LRS3_BAD[0]:
            lines[-1] = lines[-1].rsplit(" ", 2)[0]
        (root / rel).with_suffix(".txt").write_text("\n".join(lines) + "\n")
    return root


def expected_lrs3(malformed: bool = True) -> list[ExpectedClip]:
    out = []
    for rel, rec, (a, b) in _LRS3:
        _, words = speech_window(rec, a, b)
        vid = rel.split("/")[1]
        out.append(ExpectedClip(
            rel, _LRS3_SPLIT[rel.split("/")[0]], vid, " ".join(w.upper() for w, _, _ in words),
            {"video_id": vid,
             "word_timings": [[round(s, 2), round(e, 2), w.upper()] for w, s, e in words]},
        ))
    if malformed:
        out.append(ExpectedClip(_LRS3_BAD[0], "train", "0Fi83BHQsMA",
                                labels={"video_id": "0Fi83BHQsMA"}, error="bad_metadata"))
    return out


# ---------------------------------------------------------------- VoxCeleb

# (video relpath or None, audio relpath or None, recording, window, split, transcript key)
_VOX = [
    ("dev/mp4/id00012/21Uxsk56VDQ/00001.mp4", "dev/aac/id00012/21Uxsk56VDQ/00001.m4a",
     "0880", (0.0, 1.2), "train", "path"),
    ("dev/mp4/id00012/2DLq_Kkc1r8/00001.mp4", None, "0930", (0.0, 1.2), "train", None),
    ("test/mp4/id00017/01dfn2spqyE/00001.mp4", "test/aac/id00017/01dfn2spqyE/00001.m4a",
     "0890", (0.2, 1.3), "test", "id"),
    ("mp4/id10001/1zcIwhmdeo4/00001.mp4", "wav/id10001/1zcIwhmdeo4/00001.wav",
     "0930", (0.0, 1.35), "train", "id"),
    ("mp4/id10270/5r0dWxy17C8/00001.mp4", None, "0880", (0.1, 1.2), "test", None),
]
_VOX_WAV_ONLY = ("wav/id10271/1gtz-CUIygI/00001.wav", "0890", (0.2, 1.3))
VOX_SIDECAR = "subtitles.tsv"


def _vox_text(rec: str, a: float, b: float) -> str:
    return " ".join(w for w, _, _ in speech_window(rec, a, b)[1])


def _vox_id(rel: str) -> str:
    return "/".join(rel.rsplit(".", 1)[0].split("/")[-3:])


def make_voxceleb(root: Path, malformed: bool = True) -> Path:
    sidecar = ["# clip<TAB>transcript (avprep transcript sidecar)"]
    for i, (video, audio_rel, rec, (a, b), _, tkey) in enumerate(_VOX):
        audio, _ = speech_window(rec, a, b)
        write_video(root / video, audio, MP4, seed=50 + i,
                    who="hopper" if "id00017" in video else "astronaut")
        if audio_rel:
            write_audio(root / audio_rel, audio)
        if tkey:
            clip = video if tkey == "path" else _vox_id(video)
            sidecar.append(f"{clip}\t{_vox_text(rec, a, b)}")
    if malformed:
        rel, rec, (a, b) = _VOX_WAV_ONLY
        write_audio(root / rel, speech_window(rec, a, b)[0])
    (root / VOX_SIDECAR).write_text("\n".join(sidecar) + "\n")
    return root


def options_voxceleb(root: Path) -> DiscoverOptions:
    return DiscoverOptions(transcripts=str(root / VOX_SIDECAR))


def expected_voxceleb(malformed: bool = True) -> list[ExpectedClip]:
    out = []
    for video, audio_rel, rec, (a, b), split, tkey in _VOX:
        speaker, yt, _ = _vox_id(video).split("/")
        out.append(ExpectedClip(
            video, split, speaker, _vox_text(rec, a, b) if tkey else None,
            {"youtube_id": yt, "voxceleb_version": 1 if speaker >= "id10000" else 2},
            audio=audio_rel,
        ))
    if malformed:
        rel = _VOX_WAV_ONLY[0]
        out.append(ExpectedClip(
            rel, "test", "id10271", None, {"youtube_id": "1gtz-CUIygI", "voxceleb_version": 1},
            audio=rel, error="missing_video",
        ))
    return out


# ---------------------------------------------------------------- identity faces

# person folder (MS-Celeb-1M style machine ids) -> (face, number of images)
_PERSONS = {"m.0107_f": ("astronaut", 3), "m.01_0j": ("hopper", 2)}
_LOOSE = "loose.jpg"  # an image outside any person folder


def make_identity(root: Path, malformed: bool = True) -> Path:
    from avprep.datasets.demo_media import animate_face

    for p, (who, n) in _PERSONS.items():
        frames = animate_face(face(who), n * 10, (256, 256), seed=len(p), amplitude=2.0)
        (root / p).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = cv2.cvtColor(frames[i * 10], cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(root / p / f"{i + 1}-FaceId-0.jpg"), img)
    if malformed:
        img = cv2.cvtColor(face_photo(), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(root / _LOOSE), cv2.resize(img, (128, 128)))
    return root


def expected_identity(malformed: bool = True) -> list[ExpectedClip]:
    out = []
    for pid, p in enumerate(sorted(_PERSONS)):
        images = tuple(f"{p}/{i + 1}-FaceId-0.jpg" for i in range(_PERSONS[p][1]))
        out.append(ExpectedClip(
            images[0], "train", p, None, {"person_id": pid, "person": p},
            kind="identity", images=images, key_path=f"{p}/*",
        ))
    if malformed:
        out.append(ExpectedClip(_LOOSE, "train", kind="identity", images=(_LOOSE,),
                                error="bad_layout"))
    return out


CORPORA: dict[str, Corpus] = {
    "lrw": Corpus("lrw", make_lrw, expected_lrw, _no_options),
    "grid": Corpus("grid", make_grid, expected_grid, _no_options),
    "cremad": Corpus("cremad", make_cremad, expected_cremad, _no_options),
    "tcdtimit": Corpus("tcdtimit", make_tcdtimit, expected_tcdtimit, _no_options),
    "lrs3": Corpus("lrs3", make_lrs3, expected_lrs3, _no_options),
    "voxceleb": Corpus("voxceleb", make_voxceleb, expected_voxceleb, options_voxceleb),
    "identity": Corpus("identity", make_identity, expected_identity, _no_options),
}


def make(corpus: str, root: Path, malformed: bool = True) -> Path:
    return CORPORA[corpus].make(Path(root), malformed=malformed)


def expected(corpus: str, malformed: bool = True) -> list[ExpectedClip]:
    return CORPORA[corpus].expected(malformed=malformed)


def options(corpus: str, root: Path) -> DiscoverOptions:
    return CORPORA[corpus].options(Path(root))
