"""Sparse item-kNN: cosine neighbours kept per item, for catalogs too big for EASE."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

THREADS = max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class ItemNeighbours:
    """Item × item similarity, at most ``k`` neighbours per item (rows: source item)."""

    similarity: sp.csr_matrix

    @property
    def n_items(self) -> int:
        return int(self.similarity.shape[0])

    def scores(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.float32]:
        """Weighted sum of the neighbour rows of one history."""
        cols, contrib = self._gather(indices, values)
        return np.bincount(cols, weights=contrib, minlength=self.n_items).astype(np.float32)

    def contributions(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The same sums as ``(items, scores)``, only for items near the history (others score 0)."""
        cols, contrib = self._gather(indices, values)
        items, inverse = np.unique(cols, return_inverse=True)
        return items, np.bincount(inverse, weights=contrib, minlength=len(items)).astype(np.float32)

    def _gather(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        sim = self.similarity
        idx = np.asarray(indices, dtype=np.int64)
        starts, stops = sim.indptr[idx], sim.indptr[idx + 1]
        lengths = stops - starts
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        positions = np.arange(int(lengths.sum())) + offsets
        weights = np.repeat(np.asarray(values, np.float64), lengths)
        return sim.indices[positions].astype(np.int64), sim.data[positions] * weights

    def batch_scores(self, matrix: sp.csr_matrix) -> npt.NDArray[np.float32]:
        return np.asarray((matrix @ self.similarity).toarray(), dtype=np.float32)


def fit_item_neighbours(matrix: sp.csr_matrix, neighbours: int = 100) -> ItemNeighbours:
    """Cosine similarity between item columns, pruned to the top ``neighbours`` per item.

    The pairwise top-k search is ``implicit``'s multi-threaded ``all_pairs_knn``.
    """
    from implicit.nearest_neighbours import all_pairs_knn

    x = sp.csr_matrix(matrix, dtype=np.float64)
    n = x.shape[1]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    scaled = sp.csr_matrix(x @ sp.diags(1.0 / np.maximum(norms, 1e-12)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = all_pairs_knn(scaled, K=min(neighbours + 1, n), num_threads=THREADS, show_progress=False)
    similarity = sp.csr_matrix(found, dtype=np.float32)
    similarity.setdiag(0.0)
    similarity.eliminate_zeros()
    similarity.data[similarity.data < 0] = 0.0
    similarity.eliminate_zeros()
    return ItemNeighbours(_prune_rows(similarity, neighbours))


def _prune_rows(similarity: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Keep the ``keep`` largest entries of each row."""
    counts = np.diff(similarity.indptr)
    if counts.max(initial=0) <= keep:
        return similarity
    mask = np.ones(similarity.nnz, dtype=bool)
    for row in np.flatnonzero(counts > keep):
        lo, hi = similarity.indptr[row], similarity.indptr[row + 1]
        mask[lo + np.argsort(-similarity.data[lo:hi], kind="stable")[keep:]] = False
    pruned = similarity.copy()
    pruned.data = np.where(mask, pruned.data, 0.0).astype(np.float32)
    pruned.eliminate_zeros()
    return pruned
