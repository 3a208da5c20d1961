"""MfaAligner up to its boundary: a stand-in ``mfa`` executable plays back recorded
TextGrids (praatio's hand-labelled bobby, written as MFA writes them), so corpus layout,
command line, batching and TextGrid reading are all exercised without Kaldi."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from praatio import textgrid
from praatio.utilities.constants import Interval as PI

from avprep.clips import ClipRejected
from avprep.phonetics.aligner import AlignRequest
from avprep.phonetics.mfa_aligner import MfaAligner, MfaConfig, MfaUnavailable

PRAATIO = Path(__file__).resolve().parents[2] / "tests" / "data" / "praatio"

STANDIN = textwrap.dedent(
    """\
    #!{python}
    import json, os, shutil, sys
    from pathlib import Path
    args = sys.argv[1:]
    with open(os.environ["MFA_STANDIN_LOG"], "a") as f:
        f.write(json.dumps(args) + "\\n")
    if args[:1] == ["version"]:
        print("3.1.0")
        sys.exit(0)
    assert args[0] == "align", args
    corpus, dictionary, model, out = map(Path, args[1:5])
    rec = Path(os.environ["MFA_STANDIN_RECORDINGS"])
    for lab in sorted(corpus.rglob("*.lab")):
        text = lab.read_text().strip()
        src = rec / (text.replace(" ", "_") + ".TextGrid")
        if src.exists():  # an utterance MFA cannot align gets no TextGrid, as in MFA
            dest = out / lab.relative_to(corpus).with_suffix(".TextGrid")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest)
    """
)


def _bobby_as_mfa_textgrid(path: Path) -> None:
    """praatio's hand labels as an MFA TextGrid: tiers words/phones, stressed ARPAbet,
    silence as empty intervals plus one 'spn'/'sil' to test the symbol mapping."""
    words = textgrid.openTextgrid(str(PRAATIO / "bobby_words.TextGrid"), False).getTier("word")
    phones = textgrid.openTextgrid(str(PRAATIO / "bobby_phones.TextGrid"), False).getTier("phone")
    ph = []
    for s, e, lab in phones.entries:
        if lab == "PT":  # the hand tier merges the P and T of "ripped"
            ph += [PI(s, (s + e) / 2, "P"), PI((s + e) / 2, e, "T")]
        else:
            ph.append(PI(s, e, lab))
    ph.append(PI(1.1171482864527198, 1.15, "sil"))
    tg = textgrid.Textgrid()
    end = phones.maxTimestamp
    tg.addTier(
        textgrid.IntervalTier("words", [PI(s, e, w.lower()) for s, e, w in words.entries], 0, end)
    )
    tg.addTier(textgrid.IntervalTier("phones", ph, 0, end))
    tg.save(str(path), format="long_textgrid", includeBlankSpaces=True)


@pytest.fixture()
def standin(tmp_path, monkeypatch):
    bindir, rec = tmp_path / "bin", tmp_path / "recorded"
    bindir.mkdir()
    rec.mkdir()
    exe = bindir / "mfa"
    exe.write_text(STANDIN.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    _bobby_as_mfa_textgrid(rec / "bobby_ripped_the_ledger.TextGrid")
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MFA_STANDIN_RECORDINGS", str(rec))
    monkeypatch.setenv("MFA_STANDIN_LOG", str(log))
    return log


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_batch_is_one_mfa_process_with_speaker_folders(standin, tmp_path, load_audio):
    audio = load_audio(PRAATIO / "bobby.wav")
    dict_path = tmp_path / "my.dict"
    dict_path.write_text("bobby\tB AA1 B IY0\nripped\tR IH1 P T\nthe\tDH AH0\n")
    al = MfaAligner(MfaConfig(acoustic_model="/models/english_mfa.zip", dictionary=str(dict_path),
                              num_jobs=2, keep_temp=False))  # fmt: skip
    al.setup()
    assert al.versions()["mfa"] == "3.1.0"
    reqs = [
        AlignRequest("a", audio, "Bobby ripped the ledger.", "spk1"),
        AlignRequest("b", audio, "Bobby ripped the ledger", "spk2"),
        AlignRequest("c", audio, "mary rolled the barrel", "spk2"),  # no recording: unaligned
        AlignRequest("d", audio, "  ", "spk1"),
        AlignRequest("e", np.zeros(16000, np.float32), "bobby", "spk1"),
    ]
    res = al.align_many(reqs)
    calls = _calls(standin)
    aligns = [c for c in calls if c[0] == "align"]
    assert len(aligns) == 1  # one process for the whole batch
    cmd = aligns[0]
    assert cmd[3] == "/models/english_mfa.zip" and "-j" in cmd and cmd[cmd.index("-j") + 1] == "2"
    used_dict = Path(cmd[2])
    assert used_dict != dict_path  # augmented with the words the user's dict lacks
    a, b, c, d, e = res
    assert [w.label for w in a.words] == ["bobby", "ripped", "the", "ledger"]
    assert a.words[0].start == pytest.approx(0.0647, abs=1e-3)
    assert [p.label for p in a.phones][:3] == ["SIL", "B", "AA"]
    assert all(p.label in {"SIL"} or p.label.isupper() for p in a.phones)
    assert a.phones[-1].end == pytest.approx(len(audio) / 16000)
    assert "ledger" not in a.guessed_words  # "ledger" came from CMUdict, not G2P
    assert b.words == a.words
    assert isinstance(c, ClipRejected) and c.reason == "alignment_failed"
    assert isinstance(d, ClipRejected) and d.reason == "empty_transcript"
    assert isinstance(e, ClipRejected) and e.reason == "no_speech"


def test_missing_mfa_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        MfaUnavailable, match="conda install -c conda-forge montreal-forced-aligner"
    ):
        MfaAligner(MfaConfig()).setup()


def test_broken_mfa_reports_its_error(monkeypatch, tmp_path):
    exe = tmp_path / "mfa"
    exe.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named _kalpy' >&2\nexit 1\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MfaUnavailable, match="(?s)exit code 1.*_kalpy.*Kaldi"):
        MfaAligner(MfaConfig()).setup()
