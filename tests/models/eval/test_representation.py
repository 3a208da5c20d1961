"""Lip-reading accuracy, audio<->video retrieval and word information in pid (DAVS Table 3,
Sec. 4.2), against hand-computed values and the VSE++ protocol written out here."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.eval.recognition import lip_reading_accuracy, top1_accuracy  # noqa: E402
from models.eval.retrieval import rank_summary, retrieval_metrics, retrieval_ranks  # noqa: E402
from models.eval.word_information import (  # noqa: E402
    word_information_in_pid,
    word_information_split,
)


def test_top1_by_hand():
    logits = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 5.0, 0.0]])
    labels = np.array([1, 0, 1, 0])
    assert top1_accuracy(logits, labels) == 0.5
    assert top1_accuracy(torch.tensor(logits), torch.tensor(labels)) == 0.5
    with pytest.raises(ValueError, match="labels outside"):
        top1_accuracy(logits, np.array([0, 1, 2, 3]))


def test_lip_reading_streams_and_fusion():
    labels = np.array([0, 1])
    video = np.array([[3.0, 0.0], [3.0, 0.0]])  # right, wrong
    audio = np.array([[0.0, 1.0], [0.0, 9.0]])  # wrong (mildly), right (strongly)
    out = lip_reading_accuracy(labels, video_logits=video, audio_logits=audio)
    assert out["visual_acc"] == 0.5 and out["audio_acc"] == 0.5
    # softmax means: row 0 -> (0.953+0.269)/2 vs (0.047+0.731)/2 -> word 0 (right);
    # row 1 -> (0.953+0.0001)/2 vs (0.047+0.9999)/2 -> word 1 (right)
    assert out["combined_acc"] == 1.0 and out["combined_from"].startswith("mean of softmax")
    own = lip_reading_accuracy(labels, video, audio, combined_logits=np.array([[1.0, 0], [1, 0]]))
    assert own["combined_acc"] == 0.5 and own["combined_from"] == "model"
    with pytest.raises(ValueError, match="at least one"):
        lip_reading_accuracy(labels)


def _vsepp_ranks(queries, candidates):
    """VSE++'s i2t rank loop (Faghri et al. evaluation.py), on L2-normalised embeddings."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    c = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    ranks = np.zeros(len(q), np.int64)
    for i in range(len(q)):
        d = q[i] @ c.T
        inds = np.argsort(d)[::-1]
        ranks[i] = np.where(inds == i)[0][0]
    return ranks


def test_retrieval_by_hand():
    # 2-D vectors at known angles (lengths do not matter: embeddings are L2-normalised)
    ang_v = np.radians([0.0, 90.0, 180.0])
    ang_a = np.radians([5.0, 95.0, 20.0])
    video = np.stack([np.cos(ang_v), np.sin(ang_v)], 1) * np.array([[1.0], [3.0], [0.5]])
    audio = np.stack([np.cos(ang_a), np.sin(ang_a)], 1)
    # audio->video: audio 0 (5deg) -> v0 rank 0; audio 1 (95) -> v1 rank 0;
    # audio 2 (20deg): v0 at 20, v1 at 70, v2 at 160 -> rank 2
    np.testing.assert_array_equal(retrieval_ranks(audio, video), [0, 0, 2])
    m = retrieval_metrics(audio, video)
    assert m["a2v_r1"] == pytest.approx(200 / 3) and m["a2v_r10"] == 100.0
    assert m["a2v_medr"] == 1.0
    # video->audio: v0 (0deg): a0 5, a2 20 -> rank 0; v1 (90): a1 -> 0; v2 (180): a1 at 85,
    # a0 at 175, a2 at 160 -> a1 closest, then a2 -> rank 1
    np.testing.assert_array_equal(retrieval_ranks(video, audio), [0, 0, 1])
    assert rank_summary(np.array([0, 0, 1, 5, 12]))["medr"] == 2.0


def test_retrieval_matches_vsepp_and_is_chunk_invariant():
    rng = np.random.default_rng(0)
    video = rng.normal(size=(300, 16)).astype(np.float32)
    audio = video + rng.normal(scale=1.5, size=video.shape).astype(np.float32)
    ref = _vsepp_ranks(audio.astype(np.float64), video.astype(np.float64))
    for chunk in (7, 64, 1000):
        np.testing.assert_array_equal(retrieval_ranks(audio, video, chunk=chunk), ref)
    m = retrieval_metrics(audio, video, chunk=50)
    assert m["a2v_r1"] == pytest.approx(100 * (ref < 1).mean())
    assert m["a2v_medr"] == np.floor(np.median(ref)) + 1


def test_collapsed_embeddings_are_not_rewarded():
    same = np.ones((10, 4), np.float32)
    m = retrieval_metrics(same, same)
    assert m["a2v_r1"] == 0.0 and m["v2a_medr"] == 10.0


def test_word_information_in_pid():
    rng = np.random.default_rng(0)
    words = np.repeat(np.arange(5), 40)
    informative = np.eye(5)[words] * 4 + rng.normal(size=(200, 5))
    blind = rng.normal(size=(200, 5))
    hi = word_information_split(informative, words)
    lo = word_information_split(blind, words)
    assert hi["word_acc_from_pid"] > 0.9
    assert lo["word_acc_from_pid"] < 0.45
    assert hi["test_samples"] == 40 and hi["words"] == 5 and hi["majority_class_acc"] == 0.2
    # explicit sets: a perfectly separable toy
    x = np.array([[0.0], [0.1], [1.0], [1.1]])
    y = np.array([0, 0, 1, 1])
    assert word_information_in_pid(x, y, x, y)["word_acc_from_pid"] == 1.0


@pytest.mark.gpu
def test_retrieval_of_25000_fits_one_gpu_in_chunks():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    g = torch.Generator(device="cuda").manual_seed(0)
    video = torch.randn(25_000, 256, device="cuda", generator=g)
    audio = video + 0.1 * torch.randn(25_000, 256, device="cuda", generator=g)
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    m = retrieval_metrics(audio, video, chunk=2048)
    peak = torch.cuda.max_memory_allocated() - before
    assert peak < 1.5 * 2048 * 25_000 * 4 + 2 * 25_000 * 256 * 4 + 2**26  # one chunk at a time
    assert m["a2v_r1"] == 100.0 and m["v2a_medr"] == 1.0 and m["samples"] == 25_000


def test_word_information_split_names_words_seen_once():
    """A stratified split needs two samples of each word; the error says what to do."""
    features = np.random.default_rng(0).normal(size=(5, 3))
    with pytest.raises(ValueError, match="word\\(s\\) 4 have 1.*--test"):
        word_information_split(features, np.array([0, 0, 1, 1, 4]))
