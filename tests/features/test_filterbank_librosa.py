"""The HTK mel filterbank written out in numpy equals librosa's (its independent reference:
``librosa.filters.mel(htk=True, norm=None)``), and the feature stage does not import librosa
(an import that would cost every build worker ~0.75 s of start-up)."""

from __future__ import annotations

import subprocess
import sys

import librosa
import numpy as np
import pytest

from avprep.features.mfcc import _htk_filterbank


@pytest.mark.parametrize(
    "sr, n_fft, n_mels, fmin, fmax",
    [(16000, 512, 13, 300.0, 3700.0), (16000, 512, 26, 0.0, 8000.0), (8000, 256, 40, 20.0, 4000.0),
     (44100, 2048, 80, 0.0, 22050.0)],
)  # fmt: skip
def test_htk_filterbank_equals_librosa(sr, n_fft, n_mels, fmin, fmax):
    ours = _htk_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=True, norm=None,
        dtype=np.float64,
    )  # fmt: skip
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)


def test_feature_stage_does_not_import_librosa():
    code = (
        "import sys, numpy as np\n"
        "from avprep.features.stage import AudioFeatureStage\n"
        "s = AudioFeatureStage(features=('mfcc_davs', 'mfcc_syncnet', 'mfcc_cran', "
        "'logspec_dvae'))\n"
        "s.setup()\n"
        "assert 'librosa' not in sys.modules, 'librosa imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
