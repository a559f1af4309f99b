"""Validation-tuned peers, RP3beta, per-user metrics, bootstrap intervals and the paired test."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful.evaluation.metrics import (
    bootstrap_intervals,
    bootstrap_samples,
    evaluate_lists,
    per_user_metrics,
    report_of,
)
from tactful.evaluation.peers import Fitted, Peer, PeerData, Scorer, rp3beta_similarity, tune_on_validation
from tactful.evaluation.runner import ModelRun, paired_comparison


def _lists(seed: int, users: int, items: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    lists = [rng.permutation(items)[:20] for _ in range(users)]
    targets = [np.sort(rng.choice(items, rng.integers(1, 8), replace=False)) for _ in range(users)]
    return lists, targets


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 40))
def test_per_user_metrics_average_to_the_aggregate(seed: int, users: int) -> None:
    items = 60
    lists, targets = _lists(seed, users, items)
    tags = tuple(frozenset({f"t{i % 5}", f"u{i % 3}"}) for i in range(items))
    item_users = np.random.default_rng(seed).integers(0, 50, items)
    per_user = report_of(per_user_metrics(lists, targets, items, item_users, 50, tags))
    whole = evaluate_lists(lists, targets, items, item_users, 50, tags).as_dict()
    for name, value in whole.items():
        assert abs(per_user[name] - value) < 1e-4, name


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_bootstrap_interval_holds_the_point_and_narrows_with_users(seed: int) -> None:
    items = 80
    small = per_user_metrics(*_lists(seed, 30, items), items, np.ones(items, int), 10)
    large = per_user_metrics(*_lists(seed, 600, items), items, np.ones(items, int), 10)
    ci_small = bootstrap_intervals(small, bootstrap_samples(30, 300, seed))
    ci_large = bootstrap_intervals(large, bootstrap_samples(600, 300, seed))
    for metric, (lo, hi) in ci_small.items():
        assert lo - 1e-9 <= report_of(small)[metric] <= hi + 1e-9, metric
    assert ci_large["ndcg@10"][1] - ci_large["ndcg@10"][0] < ci_small["ndcg@10"][1] - ci_small["ndcg@10"][0]


def _run(name: str, kind: str, ndcg: np.ndarray) -> ModelRun:
    n = len(ndcg)
    zeros = np.zeros(n)
    from tactful.evaluation.metrics import UserMetrics

    metrics = UserMetrics(ndcg, zeros, zeros, zeros, zeros, np.zeros((n, 10), np.int64), 10)
    return ModelRun(Peer(name, lambda d: Fitted(lambda u: np.zeros((len(u), 1), np.float32)), kind),
                    Fitted(lambda u: np.zeros((len(u), 1), np.float32)), metrics, 0.0, 0.0)


def test_paired_comparison_separates_a_real_gain_from_noise() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(400) * 0.3
    better = _run("ours", "tactful", np.clip(base + 0.05 + rng.normal(0, 0.02, 400), 0, 1))
    same = _run("ours", "tactful", np.clip(base + rng.normal(0, 0.02, 400), 0, 1))
    peer = _run("peer", "tuned", base)
    samples = bootstrap_samples(400, 500, 0)
    gain = paired_comparison(better, peer, samples)
    assert gain["ratio"] > 1.1 and gain["ratio_ci95"][0] > 1.0 and gain["wilcoxon_p"] < 1e-6
    noise = paired_comparison(same, peer, samples)
    assert noise["ratio_ci95"][0] < 1.0 < noise["ratio_ci95"][1] + 0.02
    assert noise["wilcoxon_p"] > gain["wilcoxon_p"]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.5, 1.0]), st.sampled_from([0.0, 0.4]))
def test_rp3beta_matches_the_random_walk_written_out(seed: int, alpha: float, beta: float) -> None:
    rng = np.random.default_rng(seed)
    dense = (rng.random((12, 9)) < 0.35).astype(float)
    dense[0, :] = 1.0
    x = sp.csr_matrix(dense)
    got = rp3beta_similarity(x, alpha, beta, neighbours=8).toarray()
    p_ui = dense / np.maximum(dense.sum(1, keepdims=True), 1e-12)
    p_iu = dense.T / np.maximum(dense.sum(0)[:, None], 1e-12)
    pop = dense.sum(0)
    expected = (p_iu**alpha) @ (p_ui**alpha) / np.maximum(pop, 1.0)[None, :] ** beta
    expected[:, pop == 0] = 0.0
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_tuning_on_validation_picks_the_setting_that_predicts_held_out_items() -> None:
    rng = np.random.default_rng(3)
    users, items = 80, 40
    rows, cols, times = [], [], []
    for u in range(users):
        early = rng.choice(20, 8, replace=False)  # old items first, then the late block
        late = 20 + rng.choice(20, 4, replace=False)
        for t, i in enumerate([*early, *late]):
            rows.append(u), cols.append(i), times.append(float(t))
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(users, items))
    stamps = sp.csr_matrix((np.array(times) + 1.0, (rows, cols)), shape=(users, items))

    def fit(x: sp.csr_matrix, params: dict) -> Scorer:
        prefer_late = np.where(np.arange(items) >= 20, 1.0, 0.0) * params["sign"]
        return lambda u: np.tile(prefer_late.astype(np.float32), (len(u), 1))

    grid = [{"sign": -1.0}, {"sign": 1.0}]
    best, score, trials = tune_on_validation(PeerData(matrix, stamps, "count"), grid, fit)
    assert best == {"sign": 1.0} and trials == 2 and score > 0
