"""CRAN Algorithm 1: hand-worked ranking and selection, uniformity, bounds, determinism."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scipy.spatial import distance as sd
from scipy.stats import entropy

from avprep.phonetics.phoneset import PHONES
from avprep.selection import (
    NoPhoneHistogramsError,
    distance_to_uniform,
    load_candidates,
    prefix_histograms,
    rank_clips,
    select_samples,
)
from tests.selection.selection_fixtures import hand_corpus, hist, manifest_table, skewed_manifest

# ------------------------------------------------------------------ hand-worked corpus
# totals over the 5 candidates a..e: AH 12, T 7, OY 3, ZH 2 (24 phones); rarity order:
# the 35 absent phones (PHONES order), then ZH, OY, T, AH.


def test_candidates_exclude_rejected_other_split_and_missing():
    hand = hand_corpus()
    keys, hists, messages = load_candidates(hand, "train")
    assert keys.to_pylist() == ["a", "b", "c", "d", "e"]
    assert hists.shape == (5, 39)
    totals = dict(zip(PHONES, hists.sum(0).tolist(), strict=True))
    assert {p: c for p, c in totals.items() if c} == {"AH": 12, "T": 7, "OY": 3, "ZH": 2}
    assert any("1 of 6 ok clips have no phone histogram" in m for m in messages)


def test_lexicographic_ranking_hand_worked():
    hand = hand_corpus()
    # shares in rarity order (ZH, OY, T, AH), descending lexicographically:
    # b (1/4, 0, ...) and c (1/4, 1/4, ...) tie on ZH; c wins on OY -> c, b.
    # a, d, e have no ZH; d has OY 2/4 -> d. a vs e on T: a 2/8 < e 3/4 -> e, a.
    keys, hists, _ = load_candidates(hand)
    order = rank_clips(keys, hists, "lexicographic")
    assert [keys[i].as_py() for i in order] == ["c", "b", "d", "e", "a"]


def test_rarity_ranking_hand_worked():
    hand = hand_corpus()
    # weights -ln P: AH ln 2, T ln(24/7), OY ln 8, ZH ln 12; score = mean weight per phone
    w = {"AH": math.log(2), "T": math.log(24 / 7), "OY": math.log(8), "ZH": math.log(12)}
    score = {
        "a": (6 * w["AH"] + 2 * w["T"]) / 8,  # 0.828
        "b": (2 * w["AH"] + w["ZH"] + w["T"]) / 4,  # 1.276
        "c": (w["AH"] + w["OY"] + w["ZH"] + w["T"]) / 4,  # 1.622
        "d": (2 * w["OY"] + 2 * w["AH"]) / 4,  # 1.386
        "e": (3 * w["T"] + w["AH"]) / 4,  # 1.097
    }
    assert sorted(score, key=score.get, reverse=True) == ["c", "d", "b", "e", "a"]
    keys, hists, _ = load_candidates(hand)
    order = rank_clips(keys, hists, "rarity")
    assert [keys[i].as_py() for i in order] == ["c", "d", "b", "e", "a"]


def test_prefix_histograms_hand_worked():
    hand = hand_corpus()
    keys, hists, _ = load_candidates(hand)
    order = rank_clips(keys, hists, "rarity")  # c, d, b, e, a
    prefix = prefix_histograms(hists, order, [3, 1, 5, 2, 4, 3])
    assert prefix[1].tolist() == hist(AH=1, T=1, OY=1, ZH=1)
    assert prefix[2].tolist() == hist(AH=3, T=1, OY=3, ZH=1)
    assert prefix[3].tolist() == hist(AH=5, T=2, OY=3, ZH=2)
    assert prefix[4].tolist() == hist(AH=6, T=5, OY=3, ZH=2)
    assert prefix[5].tolist() == hist(AH=12, T=7, OY=3, ZH=2)


def test_selection_hand_worked_kl():
    hand = hand_corpus()
    # KL(p||U) = ln 39 - H(p): the best prefix has the highest entropy.
    # H: n=1 ln 4 = 1.386, n=2 1.256, n=3 1.309, n=4 1.305, n=5 1.173
    r = select_samples(hand, n_min=1, n_max=5, k=50, distance="kl")
    assert {n for n, _ in r.trials} == {1, 2, 3, 4, 5}
    assert r.n == 1 and r.selected_keys == ["c"]
    assert r.distance_after == pytest.approx(math.log(39) - math.log(4))
    r = select_samples(hand, n_min=2, n_max=5, k=50, distance="kl")
    assert {n for n, _ in r.trials} == {2, 3, 4, 5}
    assert r.n == 3 and r.selected_keys == ["c", "d", "b"]
    p = np.array([5, 2, 3, 2]) / 12
    assert r.distance_after == pytest.approx(math.log(39) + (p * np.log(p)).sum())
    assert r.hist_after.tolist() == hist(AH=5, T=2, OY=3, ZH=2)
    assert r.hist_before.tolist() == hist(AH=12, T=7, OY=3, ZH=2)
    assert r.phone_rarity[-4:] == ("ZH", "OY", "T", "AH")


def test_ties_keep_the_first_trial():
    hand = hand_corpus()
    # every prefix is supported on the same 4 phones with shares >= 1/39, so the L1
    # distance is 1 + 31/39 for all n: the first draw wins (strict <, as in the paper)
    r = select_samples(hand, n_min=1, n_max=5, k=20, distance="l1", seed=3)
    assert all(d == pytest.approx(1 + 31 / 39) for _, d in r.trials)
    assert r.n == r.trials[0][0]


# ------------------------------------------------------------------ distances


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distances_match_scipy(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 50, size=39)
    counts[:3] = 0  # missing phones must be handled
    p = counts / counts.sum()
    u = np.full(39, 1 / 39)
    assert distance_to_uniform(counts, "l1") == pytest.approx(sd.cityblock(p, u))
    assert distance_to_uniform(counts, "l2") == pytest.approx(sd.euclidean(p, u))
    assert distance_to_uniform(counts, "kl") == pytest.approx(entropy(p, u))
    assert distance_to_uniform(counts, "js") == pytest.approx(sd.jensenshannon(p, u))
    for d in ("l1", "l2", "kl", "js"):
        assert distance_to_uniform(np.ones(39), d) == pytest.approx(0.0, abs=1e-12)
        assert distance_to_uniform(np.zeros(39), d) == math.inf
    with pytest.raises(ValueError, match="unknown distance"):
        distance_to_uniform(counts, "cosine")


# ------------------------------------------------------------------ behaviour at scale


@pytest.mark.parametrize("ranking", ["rarity", "lexicographic"])
@pytest.mark.parametrize("distance", ["l1", "kl"])
def test_selected_subset_closer_to_uniform_than_random(ranking, distance):
    table, h = skewed_manifest(20_000, seed=7)
    r = select_samples(table, n_min=1000, n_max=6000, k=30, distance=distance, ranking=ranking)
    assert r.distance_after < r.distance_before
    rng = np.random.default_rng(123)
    random_d = [
        distance_to_uniform(h[rng.choice(len(h), r.n, replace=False)].sum(0), distance)
        for _ in range(20)
    ]
    assert r.distance_after < min(random_d)
    # the summary's counts are the selected clips' own histograms
    rows = {k: i for i, k in enumerate(table["key"].to_pylist())}
    assert (h[[rows[k] for k in r.selected_keys]].sum(0) == r.hist_after).all()


def test_rarity_ranking_beats_lexicographic_on_skewed_corpus():
    table, _ = skewed_manifest(20_000, seed=11)
    kw = dict(n_min=1000, n_max=6000, k=30, distance="l1")
    rar = select_samples(table, ranking="rarity", **kw)
    lex = select_samples(table, ranking="lexicographic", **kw)
    assert rar.distance_after < lex.distance_after


def test_bounds_respected():
    table, _ = skewed_manifest(3000, seed=1)
    r = select_samples(table, n_min=500, n_max=900, k=40, seed=5)
    assert all(500 <= n <= 900 for n, _ in r.trials)
    assert 500 <= r.n <= 900 and len(r.selected_keys) == r.n
    assert r.messages == []
    t = r.table()
    assert t.num_rows == 3000 and pc.sum(t["selected"]).as_py() == r.n
    assert t["rank"].to_pylist() == list(range(3000))


def test_clamped_with_messages_when_corpus_is_small():
    table, _ = skewed_manifest(300, seed=2)
    r = select_samples(table, n_min=100, n_max=15114, k=10)
    assert r.n_max_used == 300 and r.n_min_used == 100
    assert any("n_max clamped to 300" in m for m in r.messages)
    r = select_samples(table, k=10)  # paper defaults: n_min 5000 > 300 too
    assert r.n_min_used == r.n_max_used == r.n == 300
    assert any("n_min clamped to 300" in m for m in r.messages)


def test_invalid_parameters():
    table, _ = skewed_manifest(50)
    for kw in (dict(n_min=0), dict(n_min=10, n_max=5), dict(k=0), dict(ranking="random")):
        with pytest.raises(ValueError):
            select_samples(table, **kw)


def test_seed_determinism_and_exploration():
    table, _ = skewed_manifest(5000, seed=3)
    kw = dict(n_min=200, n_max=4000, k=5)
    a = select_samples(table, seed=42, **kw)
    b = select_samples(table, seed=42, **kw)
    assert a.trials == b.trials and a.n == b.n
    assert a.ranked_keys.equals(b.ranked_keys)
    draws = {tuple(n for n, _ in select_samples(table, seed=s, **kw).trials) for s in range(4)}
    assert len(draws) == 4  # different seeds explore different n


def test_ranking_does_not_depend_on_row_order():
    table, _ = skewed_manifest(2000, seed=4)
    perm = np.random.default_rng(0).permutation(table.num_rows)
    shuffled = table.take(pa.array(perm))
    for ranking in ("rarity", "lexicographic"):
        a = select_samples(table, n_min=100, n_max=500, k=5, ranking=ranking)
        b = select_samples(shuffled, n_min=100, n_max=500, k=5, ranking=ranking)
        assert a.ranked_keys.to_pylist() == b.ranked_keys.to_pylist()


def test_identical_histograms_tie_break_by_key():
    h = hist(AH=3, ZH=1)
    table = manifest_table([{"key": k, "phone_hist": h} for k in ("z", "m", "a")])
    for ranking in ("rarity", "lexicographic"):
        keys, hists, _ = load_candidates(table)
        assert [keys[i].as_py() for i in rank_clips(keys, hists, ranking)] == ["a", "m", "z"]


def test_clips_without_phones_rank_last():
    table = manifest_table(
        [
            {"key": "a", "phone_hist": hist()},
            {"key": "b", "phone_hist": hist(AH=5)},
            {"key": "c", "phone_hist": hist(AH=1, ZH=1)},
        ]
    )
    for ranking in ("rarity", "lexicographic"):
        keys, hists, _ = load_candidates(table)
        assert [keys[i].as_py() for i in rank_clips(keys, hists, ranking)] == ["c", "b", "a"]


def test_split_none_uses_every_split():
    hand = hand_corpus()
    r = select_samples(hand, n_min=1, n_max=10, k=5, split=None)
    assert r.candidates == 6  # a..e plus v (val); r rejected, x without histogram


def test_unknown_split_names_the_available_ones():
    hand = hand_corpus()
    with pytest.raises(ValueError, match=r"split 'test'.*\['train', 'val'\]"):
        select_samples(hand, split="test")


# ------------------------------------------------------------------ unaligned builds


def test_no_phone_histograms_names_the_missing_step(tmp_path):
    unaligned = manifest_table([{"key": f"k{i}", "shard": "train-000000.tar"} for i in range(4)])
    with pytest.raises(NoPhoneHistogramsError, match="forced alignment") as e:
        select_samples(unaligned)
    assert "--aligner pocketsphinx" in str(e.value)
    # a build whose manifest has no phone_hist column at all, read from disk
    pq.write_table(unaligned.drop(["phone_hist"]), tmp_path / "manifest.parquet")
    with pytest.raises(NoPhoneHistogramsError, match="forced alignment"):
        select_samples(tmp_path)  # the build folder
    with pytest.raises(NoPhoneHistogramsError):
        select_samples(tmp_path / "manifest.parquet")
