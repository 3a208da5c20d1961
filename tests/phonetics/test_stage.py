from __future__ import annotations

import numpy as np
import pytest

from avprep.clips import ClipRef, ClipRejected, ClipWork, DecodedMedia
from avprep.phonetics.phoneset import PHONE_ID, PHONES
from avprep.phonetics.stage import PhoneticsStage
from avprep.phonetics.visemes import phone_id_to_viseme_id
from avprep.stages import Stage


def media_for(audio: np.ndarray) -> DecodedMedia:
    t = len(audio) // 640
    return DecodedMedia(
        frames=np.zeros((t, 4, 4, 3), np.uint8), timestamps=np.arange(t) / 25.0,
        audio=audio[: t * 640].astype(np.float32), fps=25.0, sample_rate=16000,
        source_fps=25.0, source_size=(4, 4), av_offset=0.0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stage(ps_aligner):
    s = PhoneticsStage(aligner=ps_aligner)
    s.setup()
    return s


def work(audio, transcript, labels=None, key="k"):
    ref = ClipRef(key=key, dataset="t", split="train", source="x.mp4", transcript=transcript,
                  labels=labels or {})  # fmt: skip
    return ClipWork(ref=ref, media=media_for(audio))


def test_is_a_stage():
    assert isinstance(PhoneticsStage(), Stage)


def test_outputs_of_an_aligned_clip(stage, librivox):
    audio, text = librivox["0880"]
    # corpus word timings (as GRID/LRS3 adapters provide), here shifted by 20 ms
    timings = [[0.0, 0.21, "sil"], [0.23, 0.35, "He"], [0.35, 0.58, "was"]]
    w = work(audio, text, {"word_timings": timings})
    stage.process(w)
    t = w.media.n_frames
    assert w.arrays["phone_ids_25fps"].shape == (t,)
    assert w.arrays["viseme_ids_25fps"].shape == (t,)
    assert w.arrays["phone_ids_100hz"].shape == (4 * t,)
    assert w.arrays["viseme_ids_100hz"].shape == (4 * t,)
    lut = phone_id_to_viseme_id()
    assert np.array_equal(w.arrays["viseme_ids_100hz"], lut[w.arrays["phone_ids_100hz"]])
    meta = w.meta["phonetics"]
    assert meta["status"] == "aligned" and meta["aligner"] == "pocketsphinx"
    assert [x[2] for x in meta["words"]] == text.split()
    assert meta["guessed_words"] == []
    assert meta["word_boundary_error"]["n"] == 4
    hyp = [b for x in meta["words"][:2] for b in x[:2]]
    want = np.mean(np.abs(np.array([0.23, 0.35, 0.35, 0.58]) - np.array(hyp)[[0, 2, 1, 3]]))
    assert meta["word_boundary_error"]["mean_s"] == pytest.approx(want, abs=1e-3)
    hist = w.manifest["phone_hist"]
    assert len(hist) == 39 and all(isinstance(x, int) for x in hist)
    # "he was not an ill disposed young man": 2+3+3+2+2+7+3+3 = 25 phones, two Z (was, disposed)
    assert sum(hist) == 25 and hist[PHONES.index("Z")] == 2
    # first 100 ms is leading silence in this recording, "he" starts at 0.21 s
    assert (w.arrays["phone_ids_100hz"][:20] == 0).all()
    assert w.arrays["phone_ids_100hz"][22] == PHONE_ID["HH"]


def test_no_transcript_passes_through_with_recognition_off(ps_aligner, librivox):
    w = work(librivox["0880"][0], None)
    PhoneticsStage(aligner=ps_aligner, recognize="off").process(w)
    assert w.meta["phonetics"] == {"status": "no_transcript"} and not w.arrays


@pytest.mark.parametrize(
    "transcript,audio_kind,reason",
    [("", "speech", "empty_transcript"), ("?!", "speech", "empty_transcript"),
     ("he was not an ill disposed young man " * 4, "speech", "alignment_failed"),
     ("hello there", "silence", "no_speech")],
)  # fmt: skip
def test_rejections(stage, librivox, transcript, audio_kind, reason):
    audio = librivox["0880"][0] if audio_kind == "speech" else np.zeros(32000, np.float32)
    with pytest.raises(ClipRejected) as e:
        stage.process(work(audio, transcript))
    assert e.value.reason == reason


def test_batch_mixes_results(stage, librivox):
    a, text = librivox["0930"]
    ws = [work(a, text, key="1"), work(a, "", key="2"), work(a, None, key="3")]
    res = stage.process_batch(ws)
    assert res[0] is None and res[1].reason == "empty_transcript" and res[2] is None
    assert "phone_ids_25fps" in ws[0].arrays and "phone_ids_25fps" in ws[2].arrays
    assert ws[0].meta["phonetics"]["label_source"] == "transcript"
    assert ws[2].meta["phonetics"]["label_source"] == "recognized"  # no transcript
