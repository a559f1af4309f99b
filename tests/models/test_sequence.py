"""The item-to-item transition component: counts, recency rows, served scores, tuning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tactful.models.recommender import Recommender, RecommenderConfig
from tactful.models.sequence import fit_sequence_model, ordered_histories, recent_matrix


def _times(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    """One row per history; the k-th item listed gets time k + 1."""
    r, c, t = [], [], []
    for u, items in enumerate(rows):
        for k, i in enumerate(items):
            r.append(u)
            c.append(i)
            t.append(float(k + 1))
    return sp.csr_matrix((t, (r, c)), shape=(len(rows), n_items))


def test_transitions_count_what_follows_within_the_window() -> None:
    times = _times([[0, 1, 2], [0, 2], [3, 1]], 4)
    model = fit_sequence_model(times, window=1)
    dense = model.transitions.toarray()
    # 0 is followed (one step) by 1 once and by 2 once; 1 by 2; 3 by 1; 2 by nothing
    np.testing.assert_allclose(dense[0], [0, 0.5, 0.5, 0])
    np.testing.assert_allclose(dense[1], [0, 0, 1, 0])
    np.testing.assert_allclose(dense[2], [0, 0, 0, 0])
    np.testing.assert_allclose(dense[3], [0, 1, 0, 0])
    wider = fit_sequence_model(times, window=2).transitions.toarray()
    np.testing.assert_allclose(wider[0], [0, 1 / 3, 2 / 3, 0])  # 0→1, 0→2 (two steps), 0→2


def test_transitions_are_pruned_per_row_and_self_free() -> None:
    rng = np.random.default_rng(0)
    rows = [list(rng.permutation(40)[:25]) for _ in range(30)]
    rows.append([5, 5])  # an item repeated after itself never counts
    model = fit_sequence_model(_times(rows, 40), window=5, neighbours=6)
    counts = np.diff(model.transitions.indptr)
    assert counts.max() <= 6
    assert model.transitions.diagonal().sum() == 0
    sums = np.asarray(model.transitions.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums[counts > 0], 1.0, rtol=1e-5)


def test_histories_are_ordered_by_time() -> None:
    times = sp.csr_matrix(np.array([[3.0, 1.0, 0.0, 2.0], [0.0, 5.0, 5.0, 4.0]]))
    assert [h.tolist() for h in ordered_histories(times)] == [[1, 3, 0], [3, 1, 2]]


def test_recent_rows_match_one_history() -> None:
    rng = np.random.default_rng(3)
    dense = np.where(rng.random((6, 30)) < 0.4, rng.integers(1, 8, (6, 30)).astype(float), 0.0)
    times = sp.csr_matrix(dense)
    model = fit_sequence_model(times, window=3, last=4, decay=0.5)
    rows = recent_matrix(times, 4, 0.5)
    for u in range(6):
        lo, hi = times.indptr[u], times.indptr[u + 1]
        recent = model.recent(times.indices[lo:hi], times.data[lo:hi])
        expected = np.zeros(30)
        expected[recent] = 0.5 ** np.arange(len(recent))
        np.testing.assert_allclose(rows[u].toarray().ravel(), expected)
        items, scores = model.contributions(recent)
        full = np.zeros(30, dtype=np.float32)
        full[items] = scores
        np.testing.assert_allclose(full, model.batch_scores(rows[u])[0], rtol=1e-5, atol=1e-6)


def sequential_log(
    n_users: int = 400, n_items: int = 120, length: int = 15, seed: int = 0
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """People walk a cluster's items in a fixed order from a random start (counts, times)."""
    rng = np.random.default_rng(seed)
    clusters = n_items // 20
    rows, cols, vals, stamps = [], [], [], []
    for u in range(n_users):
        base = (u % clusters) * 20
        start = int(rng.integers(20))
        for step in range(length):
            rows.append(u)
            cols.append(base + (start + step) % 20)
            vals.append(float(rng.integers(1, 20)))
            stamps.append(1_000.0 * u + step)
    shape = (n_users, n_items)
    values = sp.csr_matrix((vals, (rows, cols)), shape=shape)
    return values, sp.csr_matrix((stamps, (rows, cols)), shape=shape)


@pytest.fixture(scope="module")
def sequential() -> tuple[Recommender, sp.csr_matrix, sp.csr_matrix]:
    plays, times = sequential_log()
    ids = [f"i{i}" for i in range(plays.shape[1])]
    return Recommender.fit(plays, ids, times, RecommenderConfig(factors=8, seed=0)), plays, times


def test_validation_keeps_the_transitions_where_order_predicts(
    sequential: tuple[Recommender, sp.csr_matrix, sp.csr_matrix],
) -> None:
    model, _, _ = sequential
    assert model.config.sequence_weight > 0
    assert model.sequence is not None
    assert any(name.startswith("sequence/") for name in model.artifact.extra["trials"])
    # someone who walked 3 → 7 of cluster 0 is told 8 first; 2 co-occurs with 3…7 as much
    # as 8 does (the item model alone barely separates them), but never follows them
    history = np.arange(3, 8)
    best, _ = model.recommend(history, np.ones(5), k=3, timestamps=np.arange(5.0))
    assert best[0] == 8
    timed = model.score(history, np.ones(5), np.arange(5.0))
    untimed = model.score(history, np.ones(5))
    assert timed[8] - timed[2] > 2 * abs(untimed[8] - untimed[2])


def test_without_times_there_is_no_sequence_part(
    sequential: tuple[Recommender, sp.csr_matrix, sp.csr_matrix],
) -> None:
    _, plays, _ = sequential
    ids = [str(i) for i in range(plays.shape[1])]
    model = Recommender.fit(plays, ids, None, RecommenderConfig(factors=8))
    assert model.config.sequence_weight == 0 and model.sequence is None
    assert "sequence_indptr" not in model.artifact.arrays
    assert not any(name.startswith("sequence/") for name in model.artifact.extra["trials"])


def test_served_scores_agree_with_batch_and_candidates(
    sequential: tuple[Recommender, sp.csr_matrix, sp.csr_matrix],
) -> None:
    model, plays, times = sequential
    rows = np.arange(5)
    batch = model.batch_scores(plays[rows], times[rows])
    for r in rows:
        lo, hi = plays.indptr[r], plays.indptr[r + 1]
        idx, vals, stamps = plays.indices[lo:hi], plays.data[lo:hi], times.data[lo:hi]
        np.testing.assert_allclose(model.score(idx, vals, stamps), batch[r], rtol=1e-5, atol=1e-5)
        best, scores = model.recommend(idx, vals, k=10, timestamps=stamps, approximate=True)
        np.testing.assert_allclose(scores, batch[r][best], rtol=1e-4, atol=1e-4)
    # the sequence part reads the times: without them the scores differ
    lo, hi = plays.indptr[0], plays.indptr[1]
    assert not np.allclose(model.score(plays.indices[lo:hi], plays.data[lo:hi]), batch[0])


def test_an_unchanged_history_keeps_its_fold(
    sequential: tuple[Recommender, sp.csr_matrix, sp.csr_matrix],
) -> None:
    model, _, _ = sequential
    idx, vals, stamps = np.arange(20, 26), np.full(6, 3.0), np.arange(6.0)
    first = model.fold(idx, vals, stamps)
    assert first.recent is not None and first.recent[0] == 25
    assert model.fold(idx, vals, stamps, previous=first) is first
    moved = model.fold(np.append(idx, 30), np.append(vals, 3.0), np.append(stamps, 9.0), previous=first)
    assert moved.recent is not None and moved.recent[0] == 30
    np.testing.assert_allclose(
        model.score_fold(moved),
        model.score(np.append(idx, 30), np.append(vals, 3.0), np.append(stamps, 9.0)),
        rtol=1e-4,
        atol=1e-4,
    )


def test_the_artifact_keeps_the_transitions(
    sequential: tuple[Recommender, sp.csr_matrix, sp.csr_matrix], tmp_path: Path
) -> None:
    model, plays, times = sequential
    loaded = Recommender.load(model.save(tmp_path / "model"))
    assert loaded.sequence is not None
    lo, hi = plays.indptr[7], plays.indptr[8]
    args = (plays.indices[lo:hi], plays.data[lo:hi], times.data[lo:hi])
    np.testing.assert_allclose(loaded.score(*args), model.score(*args), rtol=1e-6)
