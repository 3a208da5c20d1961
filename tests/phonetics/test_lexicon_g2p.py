from __future__ import annotations

import numpy as np

from avprep.phonetics.g2p import cmudict_training_pairs, default_letter_to_sound
from avprep.phonetics.lexicon import Lexicon, normalize_transcript, number_words
from avprep.phonetics.pocketsphinx_aligner import PocketSphinxAligner


def test_normalize_transcript():
    assert normalize_transcript("He's 42, ill-disposed — “really”!") == [
        "he's", "forty", "two", "ill", "disposed", "really"]  # fmt: skip
    assert number_words(1905) == ["one", "thousand", "nine", "hundred", "five"]
    assert normalize_transcript("  ...  ") == []


def _edit_distance(a, b):
    d = np.arange(len(b) + 1)
    for i, x in enumerate(a, 1):
        prev, d[0] = d.copy(), i
        for j, y in enumerate(b, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (x != y))
    return int(d[-1])


def test_g2p_on_held_out_cmudict_words():
    """Words never trained on (1 in 10 of CMUdict): phone error rate and exact-word rate.
    A letter-per-phone guess scores ~45% PER; the learned rules ~11%."""
    model = default_letter_to_sound()
    held = cmudict_training_pairs(held_out=True)[::5]  # ~2,200 words
    errs = sum(_edit_distance(list(ph), model.predict(w)) for w, ph in held)
    per = errs / sum(len(ph) for _, ph in held)
    exact = np.mean([list(ph) == model.predict(w) for w, ph in held])
    print(f"G2P held-out: PER {per:.3f}, word accuracy {exact:.3f} on {len(held)} words")
    assert per < 0.16 and exact > 0.4


def test_lexicon_cmudict_first_then_g2p():
    lex = Lexicon()
    assert lex.pronunciations("ledger")[0] == ["L", "EH", "JH", "ER"]
    assert "ledger" not in lex.guessed
    guess = lex.pronunciations("zorblaxian")
    assert guess and "zorblaxian" in lex.guessed


def test_aligner_records_guessed_words(tmp_path, librivox):
    """A dictionary without 'disposed' and no CMUdict: the word is pronounced by G2P,
    aligned, and reported as guessed."""
    from pocketsphinx import get_model_path

    full = get_model_path() + "/en-us/cmudict-en-us.dict"
    lines = [x for x in open(full) if not x.startswith("disposed")]
    small = tmp_path / "small.dict"
    small.write_text("".join(lines))
    from avprep.phonetics.pocketsphinx_aligner import PocketSphinxConfig

    al = PocketSphinxAligner(PocketSphinxConfig(dictionary=str(small)), Lexicon(use_cmudict=False))
    audio, text = librivox["0880"]
    res = al.align(audio, text)
    assert res.guessed_words == ["disposed"]
    d = next(w for w in res.words if w.label == "disposed")
    assert abs(d.start - 1.48) < 0.05 and abs(d.end - 2.11) < 0.05


def test_g2p_cache_is_json_and_never_unpickled(tmp_path, monkeypatch):
    """Issue 19 case 11: the cache lives in a user-writable folder; a file planted there must
    not run code. The model is stored as JSON and anything else is ignored and rebuilt."""
    import json
    import pickle
    from importlib.metadata import version

    from avprep.phonetics import g2p

    monkeypatch.setenv("AVPREP_CACHE", str(tmp_path))
    marker = tmp_path / "pwned"

    class Planted:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    stem = f"g2p-{g2p.ALGO_VERSION}-cmudict{version('cmudict')}"
    for name in (f"{stem}.pkl", f"{stem}.json"):
        (tmp_path / name).write_bytes(pickle.dumps(Planted()))
    small = g2p.train_letter_to_sound([("cat", ("K", "AE", "T")), ("dog", ("D", "AO", "G"))])
    monkeypatch.setattr(g2p, "cmudict_training_pairs", lambda held_out=False: [])
    monkeypatch.setattr(g2p, "train_letter_to_sound", lambda pairs: small)
    g2p.default_letter_to_sound.cache_clear()
    try:
        assert g2p.default_letter_to_sound().rules == small.rules
        assert not marker.exists()
        cached = json.loads((tmp_path / f"{stem}.json").read_text())
        assert cached["rules"] == small.rules
        g2p.default_letter_to_sound.cache_clear()
        monkeypatch.setattr(g2p, "train_letter_to_sound", None)  # must load, not retrain
        assert g2p.default_letter_to_sound().predict("cat") == ["K", "AE", "T"]
    finally:
        g2p.default_letter_to_sound.cache_clear()
