"""Per-video-frame windows: the DAVS index mapping, a tone that switches at a known frame
(each window sees what it should), 25 and 29.97/30 fps, edges, short clips."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avprep.features.config import FEATURE_CONFIGS, WindowConvention
from avprep.features.tracks import TrackTiming, compute_track, track_timing
from avprep.features.windows import frame_windows, window_spans, window_starts

SR = 16000
NAMES = ["mfcc_davs", "mfcc_syncnet", "mfcc_cran", "logspec_dvae"]


def tone_switch(n_samples: int, switch: int, f_a: float = 500.0, f_b: float = 2500.0) -> np.ndarray:
    """Tone A before sample ``switch``, tone B from it on (each with phase 0 at its start).

    160 samples are exactly 5 periods of 500 Hz and 25 of 2500 Hz at 16 kHz, so every 10 ms
    step lying entirely inside one tone sees the same samples and gives the same features.
    """
    n = np.arange(n_samples)
    a = np.sin(2 * np.pi * f_a * n / SR)
    b = np.sin(2 * np.pi * f_b * (n - switch) / SR)
    return (0.3 * np.where(n < switch, a, b)).astype(np.float32)


def test_davs_mapping_is_official_n_jpg_n_bin_pairing():
    """0-based frame n <-> official n.bin = MATLAB columns 4n-7..4n+12 = 0-based 4n-8..4n+11."""
    cfg = FEATURE_CONFIGS["mfcc_davs"]
    timing = track_timing(cfg)
    n_frames = 29  # an LRW clip: 0.jpg .. 28.jpg
    starts = window_starts(n_frames, 25.0, cfg.window, timing)
    for n in range(n_frames):
        matlab_columns = list(range(starts[n] + 1, starts[n] + 21))  # 1-based columns
        assert matlab_columns == list(range(4 * n - 7, 4 * n + 13))
    # the audio span: [t - 80 ms, t + 135 ms)
    spans = window_spans(n_frames, 25.0, cfg.window, timing)
    t = np.arange(n_frames) / 25.0
    np.testing.assert_allclose(spans - t[:, None], [[-0.08, 0.135]] * n_frames, atol=1e-12)


def test_lrw_clip_counts_and_validity():
    cfg = FEATURE_CONFIGS["mfcc_davs"]
    audio = np.random.default_rng(0).standard_normal(29 * 640).astype(np.float32) * 0.1
    track = compute_track(audio, cfg)
    assert track.shape == (114, 12)  # floor((18560 - 400)/160) + 1
    fw = frame_windows(track, 29, 25.0, cfg.window, track_timing(cfg))
    assert fw.windows.shape == (29, 20, 12) and fw.windows.dtype == np.float32
    # n = 1 needs steps -4..15; n = 26 needs ..115 > 113: valid are n = 2..25 (24 frames)
    assert fw.valid.tolist() == [False] * 2 + [True] * 24 + [False] * 3
    assert fw.n_padded[0] == 8 and fw.n_padded[-1] == 4 * 28 + 11 + 1 - 114
    np.testing.assert_array_equal(fw.windows[2], track[0:20])
    np.testing.assert_array_equal(fw.windows[25], track[92:112])
    np.testing.assert_array_equal(fw.windows[1, :4], 0.0)  # invalid: outside steps zeroed
    np.testing.assert_array_equal(fw.windows[1, 4:], track[0:16])


@pytest.mark.parametrize("fps", [25.0, 30.0, 30000 / 1001])
@pytest.mark.parametrize("name", NAMES)
def test_tone_switch_each_window_sees_what_it_should(name, fps):
    cfg = FEATURE_CONFIGS[name]
    timing = track_timing(cfg)
    n_frames, k_switch = 36, 15  # the tone switches at the start of video frame 15
    n_samples = int(round(n_frames * SR / fps))
    switch = int(round(k_switch * SR / fps))
    track = compute_track(tone_switch(n_samples, switch), cfg)
    usable = timing.usable_steps(n_samples, len(track))
    fw = frame_windows(track, n_frames, fps, cfg.window, timing, usable)

    # the features of a step entirely inside tone A / tone B (deep inside each region)
    # pre-emphasis (MFCCs; not the FHVAE spectrogram) makes step j depend on one sample before
    # its analysis window too (and step 0's first sample has no predecessor), so a step is
    # "pure" when [start - reach, end) is
    reach = 1 if getattr(cfg, "preemphasis", getattr(cfg, "preemph", 0.0)) else 0
    start, end = timing.step_span(np.arange(len(track)))
    start = start - reach
    pure_a = np.flatnonzero((start >= 0) & (end <= switch))
    pure_b = np.flatnonzero((start >= switch) & (end <= n_samples))
    ref_a, ref_b = track[pure_a[len(pure_a) // 2]], track[pure_b[len(pure_b) // 2]]
    assert not np.allclose(ref_a, ref_b, atol=1e-2)

    def comparable(v: np.ndarray) -> np.ndarray:
        # dB spectra: compare linear magnitudes (deep sidelobes are float rounding in dB)
        return 10 ** (v / 20) / 10 ** (track.max() / 20) if cfg.kind == "logspec" else v

    def measured(v: np.ndarray) -> str:
        if np.allclose(comparable(v), comparable(ref_a), atol=1e-3):
            return "A"
        if np.allclose(comparable(v), comparable(ref_b), atol=1e-3):
            return "B"
        return "mixed"

    checked = 0
    for i in range(n_frames):
        for k in range(cfg.window.width):
            j = fw.starts[i] + k
            if not usable[0] <= j < usable[1]:
                continue
            s, e = timing.step_span(j)
            s -= reach
            expected = "A" if 0 <= s and e <= switch else "B" if s >= switch else "mixed"
            assert measured(fw.windows[i, k]) == expected, (i, k, j, expected)
            checked += 1
    assert checked > n_frames * cfg.window.width // 2

    # the window of the first tone-B frame straddles the switch as its convention says
    lo, hi = window_spans(n_frames, fps, cfg.window, timing)[k_switch] * SR
    assert lo < switch < hi


@pytest.mark.parametrize(
    "name, patterns",
    [
        # DAVS, frame K takes steps 4K-8 .. 4K+11; step j depends on samples
        # [160j - 1, 160j + 400) (pre-emphasis reaches one sample back): pure A for
        # j <= 4K-3, pure B for j >= 4K+1, mixed in between.
        ("mfcc_davs", {-1: "A" * 10 + "M" * 3 + "B" * 7,
                       0: "A" * 6 + "M" * 3 + "B" * 11,
                       1: "A" * 2 + "M" * 3 + "B" * 15,
                       2: "M" + "B" * 19}),
        # CRAN, frame K takes steps 4K-16 .. 4K+18 (20 ms windows): A for j <= 4K-2.
        ("mfcc_cran", {0: "A" * 15 + "M" * 2 + "B" * 18}),
    ],
)
def test_tone_switch_hand_derived_patterns_at_25_fps(name, patterns):
    cfg = FEATURE_CONFIGS[name]
    timing = track_timing(cfg)
    n_frames, k_switch = 30, 12
    track = compute_track(tone_switch(n_frames * 640, k_switch * 640), cfg)
    fw = frame_windows(track, n_frames, 25.0, cfg.window, timing)
    ref_a, ref_b = track[10], track[4 * k_switch + 10]

    def label(v: np.ndarray) -> str:
        return "A" if np.allclose(v, ref_a, atol=1e-3) else (
            "B" if np.allclose(v, ref_b, atol=1e-3) else "M")

    for rel, pattern in patterns.items():
        i = k_switch + rel
        assert fw.valid[i]
        assert "".join(label(v) for v in fw.windows[i]) == pattern


@pytest.mark.parametrize("fps, stride", [(25.0, {4}), (30.0, {3, 4}), (30000 / 1001, {3, 4})])
def test_window_counts_and_strides(fps, stride):
    for name in NAMES:
        cfg = FEATURE_CONFIGS[name]
        timing = track_timing(cfg)
        n_frames = 90
        starts = window_starts(n_frames, fps, cfg.window, timing)
        assert starts.shape == (n_frames,)
        assert set(np.diff(starts).tolist()) == stride
        # step positions follow the frame times: no drift over the clip
        centres = (window_spans(n_frames, fps, cfg.window, timing).mean(axis=1)
                   - (np.arange(n_frames) + 0.5) / fps)
        assert np.ptp(centres) <= 0.01 + 1e-9


def test_centred_conventions_at_25_fps():
    expected = {  # name -> (start step of frame i - 4 i, audio span relative to t = i/25)
        "mfcc_syncnet": (-9, (-0.090, 0.125)),
        "mfcc_cran": (-16, (-0.160, 0.200)),
        "logspec_dvae": (-9, (-0.090, 0.125)),
    }
    for name, (offset, span) in expected.items():
        cfg = FEATURE_CONFIGS[name]
        timing = track_timing(cfg)
        starts = window_starts(50, 25.0, cfg.window, timing)
        np.testing.assert_array_equal(starts - 4 * np.arange(50), offset)
        rel = window_spans(50, 25.0, cfg.window, timing) - np.arange(50)[:, None] / 25
        np.testing.assert_allclose(rel, [span] * 50, atol=1e-12)
    # CRAN's 350 ms window is centred exactly on the frame centre
    cran = FEATURE_CONFIGS["mfcc_cran"]
    mid = window_spans(5, 25.0, cran.window, track_timing(cran)).mean(axis=1)
    np.testing.assert_allclose(mid, (np.arange(5) + 0.5) / 25, atol=1e-12)


def test_edge_policies_are_recorded():
    track = np.arange(30, dtype=np.float32)[:, None] * np.ones((1, 2), dtype=np.float32)
    timing = TrackTiming(SR, 160, 400, 0)
    base = WindowConvention(width=8, anchor="start", offset=-4, edge="invalid")
    inv = frame_windows(track, 8, 25.0, base, timing)
    zero = frame_windows(track, 8, 25.0, dataclasses.replace(base, edge="pad_zero"), timing)
    edge = frame_windows(track, 8, 25.0, dataclasses.replace(base, edge="pad_edge"), timing)
    # starts 4i - 4: frame 0 -> -4..3, frame 7 -> 24..31 (track has 30 steps)
    np.testing.assert_array_equal(inv.starts, 4 * np.arange(8) - 4)
    np.testing.assert_array_equal(inv.n_padded, [4, 0, 0, 0, 0, 0, 0, 2])
    assert inv.valid.tolist() == [False] + [True] * 6 + [False]
    assert zero.valid.all() and edge.valid.all()
    np.testing.assert_array_equal(zero.windows[0, :, 0], [0, 0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(edge.windows[0, :, 0], [0, 0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(edge.windows[7, :, 0], [24, 25, 26, 27, 28, 29, 29, 29])
    np.testing.assert_array_equal(zero.windows[7, :, 0], [24, 25, 26, 27, 28, 29, 0, 0])
    # a usable range narrower than the track (e.g. a padded last step) is respected
    narrow = frame_windows(track, 8, 25.0, base, timing, usable=(0, 29))
    assert narrow.n_padded[7] == 3 and not narrow.valid[7]
    # a window with no real step at all is invalid under every policy
    far = frame_windows(track, 20, 25.0, dataclasses.replace(base, edge="pad_edge"), timing)
    assert not far.valid[-1] and far.n_padded[-1] == 8


@pytest.mark.parametrize("name", NAMES)
def test_clip_shorter_than_one_window(name):
    cfg = FEATURE_CONFIGS[name]
    timing = track_timing(cfg)
    audio = np.full(cfg.win_length - 1, 0.1, dtype=np.float32)
    track = compute_track(audio, cfg)
    assert track.shape == (0, cfg.dim)
    usable = timing.usable_steps(len(audio), len(track))
    assert usable == (0, 0)
    fw = frame_windows(track, 1, 25.0, cfg.window, timing, usable)
    assert fw.windows.shape == (1, cfg.window.width, cfg.dim)
    assert not fw.valid.any() and fw.n_padded[0] == cfg.window.width
    np.testing.assert_array_equal(fw.windows, 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_silent_audio_windows_are_finite(name):
    cfg = FEATURE_CONFIGS[name]
    timing = track_timing(cfg)
    audio = np.zeros(50 * 640, dtype=np.float32)
    track = compute_track(audio, cfg)
    fw = frame_windows(track, 50, 25.0, cfg.window, timing,
                       timing.usable_steps(len(audio), len(track)))
    assert np.all(np.isfinite(fw.windows)) and fw.valid.sum() > 30


def test_usable_steps_match_the_track_geometry():
    n = 29 * 640
    assert track_timing(FEATURE_CONFIGS["mfcc_davs"]).usable_steps(n, 114) == (0, 114)
    # psf pads its last frame: 1 + ceil((18560 - 400)/160) = 115 steps, the last one padded
    assert track_timing(FEATURE_CONFIGS["mfcc_syncnet"]).usable_steps(n, 115) == (0, 114)
    # FHVAE frames: step j covers [160 j, 160 j + 400), every step is real audio
    dvae = track_timing(FEATURE_CONFIGS["logspec_dvae"])
    assert dvae.first_start == 0
    assert dvae.usable_steps(n, 114) == (0, 114)
