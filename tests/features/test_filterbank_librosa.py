"""The HTK mel filterbank written out in numpy equals librosa's (its independent reference:
``librosa.filters.mel(htk=True, norm=None)``), and the clip stages import neither librosa
nor scipy.signal."""

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


def test_clip_stages_import_neither_librosa_nor_scipy_signal():
    """Each would cost every build worker ~0.75-0.8 s of start-up."""
    code = (
        "import sys\n"
        "from avprep.config import BuildConfig\n"
        "from avprep.clip_processor import ClipProcessor\n"
        "p = ClipProcessor(BuildConfig(dataset='folder', root='.', out='unused', "
        "face_backend='dlib', aligner='none', "
        "features=('mfcc_davs', 'mfcc_syncnet', 'mfcc_cran', 'logspec_dvae')))\n"
        "p.setup()\n"
        "bad = [m for m in ('librosa', 'scipy.signal') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
