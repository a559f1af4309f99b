"""EASE, item-kNN, ANN retrieval, top-k and value weighting on small inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful.models.ann import build_item_index, exact_top_k, recall_against_exact
from tactful.models.ease import fit_linear_item_model
from tactful.models.item_knn import fit_item_neighbours
from tactful.models.ranking import top_k, top_k_rows
from tactful.models.tuning import dual_ease_scores
from tactful.models.weighting import SignalWeighting, detect_value_kind, recency_matrix


def test_ease_matches_the_closed_form(plays: sp.csr_matrix) -> None:
    x = plays.copy()
    x.data[:] = 1.0
    model = fit_linear_item_model(x, 50.0, min_support=1)
    dense = x.toarray().astype(np.float64)
    p = np.linalg.inv(dense.T @ dense + 50.0 * np.eye(dense.shape[1]))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights, expected, atol=1e-4)
    row = x[4]
    np.testing.assert_allclose(model.scores(row.indices, row.data), (dense[4] @ expected), atol=1e-4)


def test_dual_form_ranks_like_the_primal(plays: sp.csr_matrix) -> None:
    x = sp.csr_matrix(plays, dtype=np.float32)
    x.data = np.log1p(x.data)
    primal = fit_linear_item_model(x, 30.0, min_support=1).batch_scores(x[:5])
    dual = next(dual_ease_scores(x, sp.csr_matrix(x[:5]), [30.0]))
    mask = x[:5].toarray() == 0
    np.testing.assert_allclose(dual[mask], primal[mask], rtol=1e-3, atol=1e-3)


def test_item_neighbours_are_pruned_and_self_free(plays: sp.csr_matrix) -> None:
    knn = fit_item_neighbours(plays, neighbours=5)
    assert knn.similarity.diagonal().sum() == 0
    assert np.diff(knn.similarity.indptr).max() <= 5


def test_ann_recall_against_exact_top_k() -> None:
    rng = np.random.default_rng(0)
    items = rng.normal(size=(3000, 16)).astype(np.float32)
    index = build_item_index(items, ef=200)
    queries = rng.normal(size=(50, 16)).astype(np.float32)
    assert recall_against_exact(index, items, queries, k=10) >= 0.9
    found = index.search(queries[0], 10, exclude=exact_top_k(items, queries[0], 3))
    assert len(found) == 10 and not np.isin(found, exact_top_k(items, queries[0], 3)).any()


def test_top_k_orders_and_excludes() -> None:
    scores = np.array([0.1, 0.9, 0.5, 0.9, -1.0])
    assert top_k(scores, 3).tolist() == [1, 3, 2]
    assert top_k(scores, 3, exclude=np.array([1])).tolist() == [3, 2, 0]
    assert top_k(scores, 10, exclude=np.array([0, 1, 2, 3])).tolist() == [4]
    rows = top_k_rows(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), sp.csr_matrix(np.eye(3)[:2]), 2)
    assert rows.tolist() == [[2, 1], [0, 2]]


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([4.0, 3.5, 5.0, 0.5, 4.0], "rating"),
        ([1, 3, 250, 1, 17, 2], "count"),
        ([1, 1, 2, 1], "count"),
        ([0.3, -1.0, 2.2], "weight"),
    ],
)
def test_value_kind_detection(values: list[float], kind: str) -> None:
    assert detect_value_kind(np.array(values)) == kind


def test_weightings() -> None:
    raw = np.array([1.0, 3.0, 5.0])
    assert SignalWeighting("offset", 3.0).values(raw).tolist() == [0.0, 0.0, 2.0]
    assert SignalWeighting("binary").values(raw).tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(SignalWeighting("log").values(raw), np.log1p(raw))
    recent = SignalWeighting("identity", half_life=1.0).row(raw, np.array([30.0, 10.0, 20.0]))
    np.testing.assert_allclose(recent, [1.0, 3.0 * 0.25, 5.0 * 0.5])


def test_dual_fit_equals_primal_fit(plays: sp.csr_matrix) -> None:
    few_users = sp.csr_matrix(plays[:120], dtype=np.float32)
    dual = fit_linear_item_model(few_users, 20.0, min_support=1)
    dense = few_users.toarray().astype(np.float64)
    supported = dual.item_index
    sub = dense[:, supported]
    p = np.linalg.inv(sub.T @ sub + 20.0 * np.eye(len(supported)))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0.0)
    assert few_users.shape[0] < len(supported)
    np.testing.assert_allclose(dual.weights, expected, atol=2e-4)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([1.0, 5.0, 40.0]))
def test_recency_matrix_matches_one_history_at_a_time(seed: int, half_life: float) -> None:
    rng = np.random.default_rng(seed)
    dense = (rng.random((6, 15)) < 0.5) * rng.integers(1, 5, (6, 15)).astype(float)
    times = sp.csr_matrix(dense)
    got = recency_matrix(times, half_life)
    weighting = SignalWeighting("identity", half_life=half_life)
    for r in range(6):
        lo, hi = times.indptr[r], times.indptr[r + 1]
        np.testing.assert_allclose(got.data[lo:hi], weighting.recency(times.data[lo:hi]), rtol=1e-6)


def test_squared_offset_weighting() -> None:
    raw = np.array([1.0, 3.0, 5.0])
    assert SignalWeighting("offset", 2.0, power=2.0).values(raw).tolist() == [0.0, 1.0, 9.0]
    assert SignalWeighting.from_dict({"transform": "offset", "offset": 3.0, "half_life": None}).power == 1.0


def test_recency_is_tried_only_when_times_exist() -> None:
    from tactful.models.recommender import Recommender, RecommenderConfig

    rng = np.random.default_rng(5)
    users, items = 150, 120
    rows = np.repeat(np.arange(users), 15)
    cols = np.concatenate([rng.choice(np.arange(u % 3, items, 3), 15, replace=False) for u in range(users)])
    values = rng.integers(1, 6, len(rows)).astype(np.float32)
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(users, items))
    times = sp.csr_matrix((rng.random(len(rows)) * 1e6 + 1, (rows, cols)), shape=(users, items))
    ids = [str(i) for i in range(items)]
    config = RecommenderConfig(value_kind="rating")
    with_times = Recommender.fit(matrix, ids, times, config).artifact.extra["trials"]
    without = Recommender.fit(matrix, ids, None, config).artifact.extra["trials"]
    assert any("half_life=" in name for name in with_times)
    assert not any("half_life=" in name for name in without)
    signals = RecommenderConfig(value_kind="weight")  # the engine's decayed signal weights
    assert not any(
        "half_life=" in n for n in Recommender.fit(matrix, ids, times, signals).artifact.extra["trials"]
    )


def test_row_top_k_breaks_ties_by_index_and_survives_nan_and_full_exclusion() -> None:
    rng = np.random.default_rng(4)
    scores = rng.standard_normal((5, 300)).astype(np.float32)
    scores[0, 100:] = 0.0
    scores[0, :100] = -1.0  # the best are 200 zeros: lowest indices first
    scores[1, 7] = np.nan
    dense = np.zeros((5, 300))
    dense[2, :] = 1.0  # every item excluded: still k items back
    exclude = sp.csr_matrix(dense)
    ranked = top_k_rows(scores, exclude, 10)
    assert ranked.shape == (5, 10)
    assert ranked[0].tolist() == list(range(100, 110))
    assert 7 not in ranked[1].tolist()
    for r in (1, 3, 4):
        masked = np.where(np.isnan(scores[r]), -np.inf, scores[r])
        assert ranked[r].tolist() == np.lexsort((np.arange(300), -masked))[:10].tolist()
