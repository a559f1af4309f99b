"""EASE, item-kNN, ANN retrieval, top-k and value weighting on small inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from tactful.models.ann import build_item_index, exact_top_k, recall_against_exact
from tactful.models.ease import fit_linear_item_model
from tactful.models.item_knn import fit_item_neighbours
from tactful.models.ranking import top_k, top_k_rows
from tactful.models.tuning import dual_ease_scores
from tactful.models.weighting import SignalWeighting, detect_value_kind


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
