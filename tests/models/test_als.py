"""ALS training through implicit and the least-squares fold-in."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tactful.models.als import fit_factor_model


def test_fold_in_solves_the_weighted_least_squares_problem(plays: sp.csr_matrix) -> None:
    model = fit_factor_model(plays, factors=8, regularization=0.1, alpha=2.0, iterations=5)
    row = plays[3]
    vector = model.fold_in(row.indices, row.data)
    # Independent dense solution: confidence 1 + (alpha·v − 1) on observed items, 1 elsewhere.
    y = model.item_factors.astype(np.float64)
    confidence = np.ones(model.n_items)
    preference = np.zeros(model.n_items)
    confidence[row.indices] = model.alpha * row.data
    preference[row.indices] = 1.0
    a = (y.T * confidence) @ y + 0.1 * np.eye(8)
    b = (y.T * confidence) @ preference
    np.testing.assert_allclose(vector, np.linalg.solve(a, b), rtol=1e-3, atol=1e-4)


def test_fold_in_of_empty_history_is_zero(plays: sp.csr_matrix) -> None:
    model = fit_factor_model(plays, factors=4, iterations=2)
    assert not model.fold_in(np.array([], dtype=int), np.array([])).any()


def test_training_is_deterministic(plays: sp.csr_matrix) -> None:
    a = fit_factor_model(plays, factors=4, iterations=3, seed=7)
    b = fit_factor_model(plays, factors=4, iterations=3, seed=7)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
