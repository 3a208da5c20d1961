"""MfaAligner up to its boundary: a stand-in ``mfa`` executable plays back recorded
TextGrids (praatio's hand-labelled bobby, written as MFA writes them), so corpus layout,
command line, batching and TextGrid reading are all exercised without Kaldi."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avprep.clips import ClipRejected
from avprep.phonetics.aligner import AlignRequest
from avprep.phonetics.mfa_aligner import MfaAligner, MfaConfig, MfaUnavailable
from tests.phonetics.mfa_standin import install_standin

PRAATIO = Path(__file__).resolve().parents[2] / "tests" / "data" / "praatio"


@pytest.fixture()
def standin(tmp_path, monkeypatch):
    return install_standin(tmp_path, monkeypatch)


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
