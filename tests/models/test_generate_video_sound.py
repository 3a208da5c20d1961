"""`avprep generate --video` with the video's own sound: the speech is taken on the video's
time base (as a build decodes it), so a soundtrack that starts after the picture still sits
under the right frames; `--real-out` writes the video's own crops under the generated ones.
A stand-in generator (the identity crop repeated) keeps this independent of any training."""

from __future__ import annotations

import av
import numpy as np
import pytest

from avprep.datasets.demo_media import face_photo, speech_assets, write_talking_clip
from models.generate import GenerateError, GenerateOptions, generate_talking_face

DELAY_FRAMES = 5  # the soundtrack starts 0.2 s after the first video frame
SPF = 640


class Repeat:
    """The do-nothing generator: the identity crop under every speech window."""

    name, template, image_size, track = "repeat", "cran112", 112, "mfcc_cran"

    def __init__(self) -> None:
        self.speech = None

    def __call__(self, crop: np.ndarray, speech) -> np.ndarray:
        self.speech = speech
        return np.repeat(crop[None], len(speech.windows), axis=0)


@pytest.fixture(scope="module")
def delayed(tmp_path_factory):
    speech = speech_assets()[0]
    assert speech.sample_rate == 16000
    audio = speech.audio[: 2 * 16000]
    path = tmp_path_factory.mktemp("delayed") / "clip.mp4"
    n_frames = len(audio) // SPF + DELAY_FRAMES
    write_talking_clip(
        path, face_photo(), audio, n_frames=n_frames, audio_delay=DELAY_FRAMES / 25
    )  # fmt: skip
    return path, audio, n_frames


def read_video(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_own_sound_is_on_the_video_time_base(delayed, tmp_path):
    path, audio, n_frames = delayed
    gen = Repeat()
    info = generate_talking_face(
        gen, str(tmp_path / "out.mp4"), None, video=str(path), options=GenerateOptions()
    )
    got = gen.speech.audio
    assert info["speech_frames"] == n_frames and len(got) == n_frames * SPF
    lead = DELAY_FRAMES * SPF
    # silence before the soundtrack starts (AAC decoding may smear a few samples)
    assert np.abs(got[: lead - 400]).max() < 1e-3
    # then the speech itself, at that offset (decoding the file without its time base put
    # the speech DELAY_FRAMES frames too early)
    ref = audio[8000:24000]
    lags = range(0, 2 * lead, 8)
    best = max(lags, key=lambda d: float(np.dot(got[8000 + d : 24000 + d], ref)))
    assert abs(best - lead) <= 64


def test_real_out_is_the_clip_under_the_generated_frames(delayed, tmp_path):
    path, _, n_frames = delayed
    gen = Repeat()
    out, real = tmp_path / "gen.mp4", tmp_path / "real.mp4"
    info = generate_talking_face(
        gen, str(out), None, video=str(path), options=GenerateOptions(), real_out=str(real)
    )
    first, n = info["first_frame"], info["frames"]
    assert (first, n) == (4, n_frames - 8) and info["real_frames"] == n
    g, r = read_video(out), read_video(real)
    assert g.shape == r.shape == (n, 112, 112, 3)
    # frame 0 of the generated file is the identity (the clip's frame 0); the real file
    # starts at clip frame `first`, which the animation has moved away from
    assert np.abs(g[0].astype(int) - r[0].astype(int)).mean() > 1


def test_real_out_needs_a_source_video(tmp_path):
    with pytest.raises(GenerateError, match="--real-out"):
        generate_talking_face(
            Repeat(), str(tmp_path / "o.mp4"), "speech.wav", image="face.jpg",
            real_out=str(tmp_path / "r.mp4"),
        )  # fmt: skip
