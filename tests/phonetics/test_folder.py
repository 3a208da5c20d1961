from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np

from avprep.phonetics.folder import align_folder, read_audio_16k
from avprep.phonetics.textgrids import read_textgrid

SPEECH = Path(__file__).resolve().parents[2] / "avprep" / "data" / "speech"


def _write_mp4(path: Path, audio: np.ndarray) -> None:
    """A small real video with AAC audio at 44.1 kHz (resampling is exercised)."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("mpeg4", rate=25)
        v.width, v.height, v.pix_fmt = 32, 32, "yuv420p"
        a = c.add_stream("aac", rate=44100)
        a.layout = "mono"
        for i in range(int(len(audio) / 16000 * 25)):
            img = np.full((32, 32, 3), i % 255, np.uint8)
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        import soxr

        a44 = soxr.resample(audio, 16000, 44100).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(a44[None, :], format="flt", layout="mono")
        frame.sample_rate = 44100
        for p in a.encode(frame):
            c.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                c.mux(p)


def test_align_folder_writes_textgrids(tmp_path):
    root, out = tmp_path / "in", tmp_path / "out"
    (root / "spk1").mkdir(parents=True)
    shutil.copy(SPEECH / "librivox_ss01_0880.wav", root / "spk1" / "a.wav")
    shutil.copy(SPEECH / "librivox_ss01_0880.txt", root / "spk1" / "a.txt")
    audio = read_audio_16k(SPEECH / "librivox_ss01_0930.wav")
    _write_mp4(root / "spk1" / "b.mp4", audio)
    shutil.copy(SPEECH / "librivox_ss01_0930.txt", root / "spk1" / "b.txt")
    shutil.copy(SPEECH / "librivox_ss01_0890.wav", root / "c.wav")  # no transcript
    (root / "d.wav").write_bytes(b"not audio")
    (root / "d.txt").write_text("hello")
    seen = []
    rep = align_folder(root, out, progress=lambda i, n, rel: seen.append((i, n, rel)))
    assert sorted(rep.aligned) == ["spk1/a.wav", "spk1/b.mp4"]
    assert list(rep.recognized) == ["c.wav"] and list(rep.rejected) == ["d.wav"]
    assert rep.no_transcript == [] and 0 < rep.recognized["c.wav"] <= 1
    rec = read_textgrid(out / "c.TextGrid")  # no .txt: recognised words and phones
    assert "selfish" in [w.label for w in rec.words] and len(rec.phones) > 20
    assert [s[0] for s in seen] == [1, 2, 3, 4] and seen[-1][1] == 4
    tg = read_textgrid(out / "spk1" / "a.TextGrid")
    assert [w.label for w in tg.words] == (SPEECH / "librivox_ss01_0880.txt").read_text().split()
    vid = read_textgrid(out / "spk1" / "b.TextGrid")
    assert [w.label for w in vid.words][:3] == ["he", "might", "even"]
    # through AAC + resampling the alignment stays within a frame or two of the wav's
    from avprep.phonetics.pocketsphinx_aligner import PocketSphinxAligner

    direct = PocketSphinxAligner().align(audio, (SPEECH / "librivox_ss01_0930.txt").read_text())
    assert max(abs(a.start - b.start) for a, b in zip(direct.words, vid.words, strict=True)) <= 0.05
    report = json.loads((out / "align_report.json").read_text())
    assert report["aligner"] == "pocketsphinx"
    # rejections are data (reason, detail), as in a build's manifest
    assert report["rejected"]["d.wav"]["reason"] == "corrupt_media"
    assert report["rejected"]["d.wav"]["detail"]


def test_align_folder_skips_untranscribed_files_with_recognition_off(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(SPEECH / "librivox_ss01_0890.wav", root / "c.wav")
    rep = align_folder(root, tmp_path / "out", recognize="off")
    assert rep.no_transcript == ["c.wav"] and not rep.recognized and not rep.aligned
    assert not (tmp_path / "out" / "c.TextGrid").exists()
