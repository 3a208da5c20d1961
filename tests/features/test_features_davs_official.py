"""DAVS per-frame MFCC windows against the official DAVS code's own output.

``tests/data/davs_official_mfcc_librivox_ss01_0880.npz`` is copied unchanged from
``/work/shared/reference/`` (see the README there): the official preprocessing
(``preprocess/runmfcc.m``, ``mfcc.m``, ``savemfcc.m`` of Hangz-nju-cuhk/Talking-Face-Generation-
DAVS) run in GNU Octave 7.3 on the bundled ``avprep/data/speech/librivox_ss01_0880.wav``.
``windows[i]`` is the content of ``l[i].bin`` as the official loader reads it (20 steps x 12
coefficients), and the loader pairs ``n.jpg`` (0-based frames) with ``n.bin``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.features.speech_sample import speech_sample

DATA = Path(__file__).resolve().parents[1] / "data"
REFERENCE = DATA / "davs_official_mfcc_librivox_ss01_0880.npz"


def test_reader_windows_equal_official_bins():
    ref = np.load(REFERENCE)
    official_l, official = ref["l"], ref["windows"]
    assert official.shape == (len(official_l), 20, 12)
    sample = speech_sample("librivox_ss01_0880", ("mfcc_davs",))
    fw = sample.windows("mfcc_davs")  # what DavsView hands a trainer for each frame
    # the official code writes a .bin for exactly the frames whose window lies on the audio
    np.testing.assert_array_equal(np.flatnonzero(fw.valid), official_l)
    ours = fw.windows[official_l]
    assert ours.dtype == np.float32
    # the official float64 values to float32 rounding (measured: every value equal to the
    # float32 of the official one)
    np.testing.assert_allclose(ours, official, rtol=2.4e-7, atol=1e-6)  # <= 2 float32 ulp
    # one frame late (the old 1-based reading) is far off: the test can tell them apart
    track = sample.array("mfcc_davs")
    inside = official_l[4 * official_l + 16 <= len(track)]
    late = track[np.stack([np.arange(4 * n - 4, 4 * n + 16) for n in inside])]
    assert np.abs(late - official[: len(inside)]).max() > 1.0
    # the whole track too (c0 dropped), as a cross-check of the values themselves
    np.testing.assert_allclose(track, ref["mfcc13"][: len(track), 1:], rtol=2.4e-7, atol=1e-6)
