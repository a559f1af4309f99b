"""EASE-style linear item model: a dense item × item weight matrix with a zero diagonal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.linalg as la
import scipy.sparse as sp

from tactful.errors import ValidationError

MAX_DENSE_ITEMS = 20_000
ROW_BLOCK = 128  # rows gathered per step: a block of a few MB stays in cache for its product


def dense(
    n_items: int, items: npt.NDArray[np.integer], scores: npt.NDArray[np.floating]
) -> npt.NDArray[np.float32]:
    """Sparse ``(items, scores)`` as a dense float32 vector over ``n_items`` (the rest: 0)."""
    out = np.zeros(n_items, dtype=np.float32)
    out[items] = scores
    return out


@dataclass(frozen=True)
class LinearItemModel:
    """Item-to-item weights over the items with enough support (``item_index``)."""

    n_items: int
    item_index: npt.NDArray[np.int32]
    weights: npt.NDArray[np.float32]

    def scores(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.float32]:
        """Scores over the whole catalog for one weighted history (unmodelled items: 0)."""
        return dense(self.n_items, *self.contributions(indices, values))

    def contributions(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Scores of the modelled items as ``(items, scores)``; every other item scores 0."""
        local = self._local()[np.asarray(indices)]
        weights = np.asarray(values, np.float32)
        mask = (local >= 0) & (weights != 0)
        if not mask.any():
            return self._items(), np.zeros(len(self.item_index), dtype=np.float32)
        return self._items(), _weighted_row_sum(self.weights, local[mask], weights[mask])

    def batch_scores(self, matrix: sp.csr_matrix) -> npt.NDArray[np.float32]:
        """Scores for every row of a users × items weight matrix."""
        out = np.zeros((matrix.shape[0], self.n_items), dtype=np.float32)
        sub = sp.csr_matrix(matrix[:, self.item_index], dtype=np.float32)
        out[:, self.item_index] = sub @ self.weights
        return out

    def _items(self) -> npt.NDArray[np.int64]:
        items = getattr(self, "_items64", None)
        if items is None:
            items = self.item_index.astype(np.int64)
            object.__setattr__(self, "_items64", items)
        return items

    def _local(self) -> npt.NDArray[np.int64]:
        lookup = getattr(self, "_lookup", None)
        if lookup is None:
            lookup = np.full(self.n_items, -1, dtype=np.int64)
            lookup[self.item_index] = np.arange(len(self.item_index))
            object.__setattr__(self, "_lookup", lookup)
        return lookup


def supported_items(matrix: sp.csr_matrix, min_support: int, limit: int) -> npt.NDArray[np.int32]:
    """Items with at least ``min_support`` users, the ``limit`` most supported at most."""
    support = np.diff(sp.csc_matrix(matrix).indptr)
    keep = np.flatnonzero(support >= min_support)
    if len(keep) > limit:
        keep = np.sort(keep[np.argsort(-support[keep], kind="stable")[:limit]])
    return keep.astype(np.int32)


def gram(matrix: sp.csr_matrix, items: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
    """Dense ``XᵀX`` over the chosen item columns."""
    sub = sp.csr_matrix(matrix[:, items], dtype=np.float32)
    if sub.shape[0] * sub.shape[1] <= 200_000_000:
        dense = sub.toarray()
        return np.asarray(dense.T @ dense, dtype=np.float32)
    return np.asarray((sub.T @ sub).toarray(), dtype=np.float32)


def fit_linear_item_model(
    matrix: sp.csr_matrix,
    regularization: float,
    min_support: int = 2,
    max_items: int = MAX_DENSE_ITEMS,
) -> LinearItemModel:
    """Closed-form EASE: ``B = I - P / diag(P)``, ``P = (XᵀX + λI)⁻¹``, zero diagonal.

    With fewer users than items the users × users dual is used (same ``B``, less work).
    """
    if regularization <= 0:
        raise ValidationError("regularization must be positive", field="regularization")
    items = supported_items(matrix, min_support, max_items)
    if len(items) == 0:
        return LinearItemModel(matrix.shape[1], items, np.zeros((0, 0), np.float32))
    if matrix.shape[0] < len(items):
        weights = _dual_weights(sp.csr_matrix(matrix[:, items]), regularization)
    else:
        weights = _primal_weights(gram(matrix, items), regularization)
    np.fill_diagonal(weights, 0.0)
    return LinearItemModel(matrix.shape[1], items, weights)


def _primal_weights(g: npt.NDArray[np.float32], regularization: float) -> npt.NDArray[np.float32]:
    """``-P / diag(P)`` from a Cholesky inverse of the regularised item Gram matrix."""
    g[np.diag_indices_from(g)] += np.float32(regularization)
    factor, info = la.lapack.spotrf(g, lower=0, overwrite_a=1)
    if info != 0:
        raise ValidationError("the item Gram matrix is not positive definite")
    inverse, _ = la.lapack.spotri(factor, lower=0, overwrite_c=1)
    weights = np.triu(inverse)
    del inverse, factor
    weights += np.triu(weights, 1).T
    weights /= -np.diag(weights).copy()
    return weights.astype(np.float32, copy=False)


def _dual_weights(x: sp.csr_matrix, regularization: float) -> npt.NDArray[np.float32]:
    """The same weights via ``P = (I − YᵀY)/λ`` with ``Y = L⁻¹X``, ``LLᵀ = XXᵀ + λI``.

    Off the diagonal ``B_ij = (YᵀY)_ij / (1 − |y_j|²)``: users² × items work, no inverse
    of the items × items matrix.
    """
    dense = x.astype(np.float64).toarray()
    kernel = dense @ dense.T
    kernel[np.diag_indices_from(kernel)] += regularization
    factor = la.cholesky(kernel, lower=True, check_finite=False)
    y = la.solve_triangular(factor, dense, lower=True, check_finite=False)
    del dense, kernel
    residual = np.maximum(1.0 - np.einsum("ij,ij->j", y, y), 1e-12)
    y32 = y.astype(np.float32)
    del y
    weights = y32.T @ y32
    weights /= residual.astype(np.float32)
    return weights


def _weighted_row_sum(
    matrix: npt.NDArray[np.float32], rows: npt.NDArray[np.int64], weights: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """``weights @ matrix[rows]`` in blocks of rows, in ascending row order.

    Gathering every row at once copies ``len(rows) × n`` floats out of cache before the
    product; a block at a time keeps the copy cache-resident, which for long histories is
    the difference between reading the rows once and reading them three times.
    """
    order = np.argsort(rows, kind="stable")
    rows, weights = rows[order], weights[order]
    total = weights[:ROW_BLOCK] @ matrix[rows[:ROW_BLOCK]]
    for start in range(ROW_BLOCK, len(rows), ROW_BLOCK):
        stop = start + ROW_BLOCK
        total += weights[start:stop] @ matrix[rows[start:stop]]
    return np.asarray(total, dtype=np.float32)
