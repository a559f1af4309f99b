"""Implicit-feedback ALS (via ``implicit``) with per-request least-squares fold-in."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits


@dataclass(frozen=True)
class FactorModel:
    """Item factors plus what a fold-in needs: ``YᵀY + λI`` and the confidence scale."""

    item_factors: npt.NDArray[np.float32]
    gramian: npt.NDArray[np.float64]
    alpha: float
    regularization: float

    @property
    def n_items(self) -> int:
        return int(self.item_factors.shape[0])

    def score_moments(self, vector: npt.NDArray[np.floating]) -> tuple[float, float]:
        """Mean and standard deviation of ``item_factors @ vector`` over the catalog, in O(k²)."""
        moments = getattr(self, "_moments", None)
        if moments is None:
            y = self.item_factors.astype(np.float64)
            centre = y.mean(axis=0)
            moments = (centre, (y.T @ y) / len(y) - np.outer(centre, centre))
            object.__setattr__(self, "_moments", moments)
        centre, covariance = moments
        v = np.asarray(vector, dtype=np.float64)
        variance = float(v @ covariance @ v)
        return float(centre @ v), max(variance, 0.0) ** 0.5

    def fold_in(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.float32]:
        """The user vector minimising the ALS loss for one sparse history, items fixed.

        Confidence of an observed item is ``alpha × value``; unobserved items weigh 1,
        exactly as ``implicit`` trains, so a fresh like moves the vector at once.
        """
        if len(indices) == 0:
            return np.zeros(self.item_factors.shape[1], dtype=np.float32)
        return self.solve(*self.normal_terms(indices, values))

    def normal_terms(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """A history's part of the fold-in equations: ``Σ (|c|−1) y yᵀ`` and ``Σ c⁺ y``.

        Both are sums over the history's items, so a change to a few items changes them by
        those items' terms alone (a negative ``values`` step takes an item's terms back out).
        """
        idx = np.asarray(indices, dtype=np.int64)
        conf = self.alpha * np.asarray(values, dtype=np.float64)
        y = self.item_factors[idx].astype(np.float64)
        magnitude = np.abs(conf)
        return (y.T * (magnitude - 1.0)) @ y, np.where(conf > 0, magnitude, 0.0) @ y

    def solve(
        self, gram_terms: npt.NDArray[np.float64], rhs: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float32]:
        """The user vector from a history's :meth:`normal_terms`.

        ``YᵀY + λI + Σ (|c|−1) y yᵀ`` is positive definite (λ > 0, |c| ≥ 0), so a Cholesky solve
        (LAPACK ``posv``) applies; it falls back to a general solve should rounding break that.
        """
        system = self.gramian + gram_terms
        _, solution, info = lapack.dposv(system, rhs)
        if info != 0:
            solution = np.linalg.solve(system, rhs)
        return np.asarray(solution, dtype=np.float32)

    def scores(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.float32]:
        """Predicted preference for every item after folding in the history."""
        return np.asarray(self.item_factors @ self.fold_in(indices, values), dtype=np.float32)


def fit_factor_model(
    matrix: sp.csr_matrix,
    factors: int = 64,
    regularization: float = 0.05,
    alpha: float = 2.0,
    iterations: int = 15,
    seed: int = 0,
) -> FactorModel:
    """Train ``implicit``'s CPU ALS on a users × items weight matrix (single BLAS thread)."""
    from implicit.cpu.als import AlternatingLeastSquares

    threads = max(1, min(2, os.cpu_count() or 1))
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=alpha,
            iterations=iterations,
            random_state=seed,
            num_threads=threads,
            calculate_training_loss=False,
        )
        model.fit(sp.csr_matrix(matrix, dtype=np.float32), show_progress=False)
    items = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    y = items.astype(np.float64)
    gramian = y.T @ y + regularization * np.eye(y.shape[1])
    return FactorModel(items, gramian, alpha, regularization)
