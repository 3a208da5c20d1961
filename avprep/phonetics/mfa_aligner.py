"""Montreal Forced Aligner backend: runs the user's own ``mfa align`` executable.

MFA needs Kaldi binaries that only its conda package brings (``conda install -c
conda-forge montreal-forced-aligner``); the pip package alone cannot align. So this backend
never imports MFA: :meth:`MfaAligner.setup` checks that ``mfa version`` runs and says
exactly what is missing otherwise. A batch of clips becomes one temporary MFA corpus (one
folder per speaker, ``<key>.wav`` + ``<key>.lab``), aligned by ONE ``mfa align`` process,
which adapts per speaker; the ``words``/``phones`` TextGrids it writes are read with
praatio. When the dictionary is a file, words it lacks are appended from CMUdict or the
learned G2P (and reported as guessed) so MFA never aligns them as ``spn``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from avprep.clips import ClipRejected
from avprep.phonetics.aligner import (
    SAMPLE_RATE,
    AlignRequest,
    require_speech,
    transcript_words,
)
from avprep.phonetics.alignment import Alignment, tile_phones
from avprep.phonetics.lexicon import Lexicon
from avprep.phonetics.textgrids import read_textgrid

INSTALL_HINT = (
    "Install MFA with conda (`conda install -c conda-forge montreal-forced-aligner`; the pip "
    "package alone has no Kaldi binaries and cannot align), then fetch a model and dictionary "
    "(`mfa model download acoustic english_us_arpa`, `mfa model download dictionary "
    "english_us_arpa`) or pass paths to your own; or use the default aligner 'pocketsphinx'."
)


class MfaUnavailable(RuntimeError):
    """``mfa`` is not on PATH or does not run: a set-up problem, not a clip's fault."""


@dataclass
class MfaConfig:
    executable: str = "mfa"  # name on PATH or a path
    acoustic_model: str = "english_us_arpa"  # saved model name or path to a .zip
    dictionary: str = "english_us_arpa"  # saved dictionary name or path to a .dict/.txt
    num_jobs: int = 1
    beam: int | None = None  # MFA's --beam (default 10); None = MFA's default
    retry_beam: int | None = None
    extra_args: tuple[str, ...] = ()
    timeout_s: float | None = None  # per mfa align call
    min_speech_s: float = 0.1
    keep_temp: bool = False  # keep the temporary corpus (for debugging MFA)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


class MfaAligner:
    name = "mfa"

    def __init__(self, config: MfaConfig | None = None) -> None:
        self.config = config or MfaConfig()
        self._exe: str | None = None
        self._version = ""
        self._lexicon = Lexicon()

    def setup(self) -> None:
        if self._exe is not None:
            return
        exe = shutil.which(self.config.executable)
        if exe is None:
            raise MfaUnavailable(
                f"Montreal Forced Aligner executable {self.config.executable!r} was not found "
                f"on PATH. {INSTALL_HINT}"
            )
        try:
            proc = subprocess.run(
                [exe, "version"], capture_output=True, text=True, timeout=120, check=False
            )
        except OSError as e:
            raise MfaUnavailable(f"{exe} could not be started ({e}). {INSTALL_HINT}") from None
        except subprocess.TimeoutExpired:
            raise MfaUnavailable(
                f"`{exe} version` did not answer in 120 s. {INSTALL_HINT}"
            ) from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip()[-800:]
            raise MfaUnavailable(
                f"`{exe} version` failed with exit code {proc.returncode}: {tail}\n"
                f"MFA is installed but broken (often: Kaldi/OpenFst binaries missing because it "
                f"came from pip, not conda). {INSTALL_HINT}"
            )
        self._exe = exe
        self._version = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "unknown"

    def versions(self) -> dict[str, str]:
        return {"mfa": self._version or "not checked", "mfa_acoustic_model":
                self.config.acoustic_model, "mfa_dictionary": self.config.dictionary}  # fmt: skip

    def align(self, audio: np.ndarray, transcript: str) -> Alignment:
        result = self.align_many([AlignRequest("utt", audio, transcript)])[0]
        if isinstance(result, ClipRejected):
            raise result
        return result

    def _dictionary_with(self, words: set[str], tmp: Path) -> tuple[str, set[str]]:
        """The dictionary to pass to MFA, and the words pronounced by G2P for this batch."""
        path = Path(self.config.dictionary)
        if not path.is_file():
            return self.config.dictionary, set()  # a saved MFA dictionary: MFA owns OOVs
        text = path.read_text(encoding="utf-8")
        known = {line.split(maxsplit=1)[0].lower() for line in text.splitlines() if line.strip()}
        missing = sorted(words - known)
        if not missing:
            return str(path), set()
        extra = []
        for w in missing:
            for pron in self._lexicon.pronunciations(w):
                extra.append(f"{w}\t{' '.join(pron)}")
        out = tmp / "dictionary.dict"
        out.write_text(text.rstrip("\n") + "\n" + "\n".join(extra) + "\n", encoding="utf-8")
        return str(out), {w for w in missing if w in self._lexicon.guessed}

    def align_many(self, requests: Sequence[AlignRequest]) -> list[Alignment | ClipRejected]:
        """One ``mfa align`` run for the whole batch (corpus folders = speakers)."""
        self.setup()
        results: list[Alignment | ClipRejected | None] = [None] * len(requests)
        prepared: list[tuple[int, list[str], str]] = []  # index, words, relpath stem
        tmp = Path(tempfile.mkdtemp(prefix="avprep-mfa-"))
        try:
            corpus, out = tmp / "corpus", tmp / "aligned"
            all_words: set[str] = set()
            for i, r in enumerate(requests):
                try:
                    words = transcript_words(r.transcript)
                    require_speech(r.audio, self.config.min_speech_s)
                except ClipRejected as e:
                    results[i] = e
                    continue
                stem = f"{_safe(r.speaker or 'speaker')}/{_safe(r.key)}_{i}"
                (corpus / stem).parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(corpus / f"{stem}.wav"), np.asarray(r.audio, np.float32),
                         SAMPLE_RATE, subtype="PCM_16")  # fmt: skip
                (corpus / f"{stem}.lab").write_text(" ".join(words) + "\n", encoding="utf-8")
                prepared.append((i, words, stem))
                all_words.update(words)
            if prepared:
                dictionary, guessed = self._dictionary_with(all_words, tmp)
                error = self._run(corpus, dictionary, out, tmp / "mfa_tmp")
                for i, words, stem in prepared:
                    results[i] = self._read(out / f"{stem}.TextGrid", words, requests[i], error,
                                            guessed)  # fmt: skip
        finally:
            if not self.config.keep_temp:
                shutil.rmtree(tmp, ignore_errors=True)
        return [r for r in results if r is not None]

    def _run(self, corpus: Path, dictionary: str, out: Path, tmp: Path) -> str | None:
        c = self.config
        cmd = [self._exe or c.executable, "align", str(corpus), dictionary, c.acoustic_model,
               str(out), "--clean", "--overwrite", "-j", str(c.num_jobs), "-t", str(tmp),
               "--output_format", "long_textgrid"]  # fmt: skip
        if c.beam is not None:
            cmd += ["--beam", str(c.beam)]
        if c.retry_beam is not None:
            cmd += ["--retry_beam", str(c.retry_beam)]
        cmd += list(c.extra_args)
        try:  # the user's environment as is: saved models live in their MFA_ROOT_DIR
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=c.timeout_s,
                                  check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            return f"mfa align timed out after {c.timeout_s}s"
        if proc.returncode != 0:
            return f"mfa align exited {proc.returncode}: {(proc.stderr or proc.stdout)[-600:]}"
        return None

    def _read(self, path: Path, words: list[str], req: AlignRequest, error: str | None,
              guessed: set[str]) -> Alignment | ClipRejected:  # fmt: skip
        if not path.exists():
            why = error or "MFA wrote no TextGrid for it (it could not align the transcript)"
            return ClipRejected("alignment_failed", why)
        try:
            got = read_textgrid(path)
        except ValueError as e:
            return ClipRejected("alignment_failed", f"unreadable MFA TextGrid: {e}")
        duration = len(req.audio) / SAMPLE_RATE
        aligned = [w.label for w in got.words]
        if aligned != words:
            return ClipRejected(
                "alignment_failed", f"MFA aligned words {aligned} differ from transcript {words}"
            )
        return Alignment(
            words=got.words,
            phones=tile_phones(got.phones, duration),
            duration=duration,
            guessed_words=sorted(set(words) & guessed),
            aligner=self.name,
        )
