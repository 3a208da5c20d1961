"""avprep's numpy Savitzky-Golay equals scipy.signal.savgol_filter(mode="interp") (the
independent reference), for landmark-shaped arrays, windows 3..11, short and long runs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import savgol_filter

from avprep.face.tracking import savgol


@pytest.mark.parametrize("window", [3, 5, 9, 11])
@pytest.mark.parametrize("n", [11, 12, 40])
def test_savgol_equals_scipy(window, n):
    x = np.random.default_rng(window * n).normal(100, 20, (n, 68, 2))
    ref = savgol_filter(x, window, 2, axis=0, mode="interp")
    np.testing.assert_allclose(savgol(x, window, 2), ref, rtol=0, atol=1e-9)
    np.testing.assert_allclose(savgol(x[:, 0, 0], window, 2), ref[:, 0, 0], rtol=0, atol=1e-9)
