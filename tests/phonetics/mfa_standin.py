"""A stand-in ``mfa`` executable that plays back recorded TextGrids (praatio's
hand-labelled bobby, written as MFA writes them): MFA tested up to its boundary
without Kaldi. Used by the aligner tests and the build tests."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

from praatio import textgrid
from praatio.utilities.constants import Interval as PI

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


def install_standin(tmp_path, monkeypatch):
    """Put the stand-in first on PATH; returns the log of its calls (JSON lines)."""
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


