"""User neighbourhood: what the people whose histories look most like this one also have.

Item models (EASE, item-kNN) and factors read a history item by item; where tastes form
tight groups (music listening is the usual case), the few people closest to a person as a
whole predict the rest of their history better. Similarity is the cosine between weighted
histories; the ``neighbours`` most similar people vote with their weighted rows, each vote
scaled by ``similarity ** power``.

A stored person whose row points the same way as the history (cosine 1: for binary
weights the same item set) is skipped: everything they hold is already in the history, so
they carry nothing about what to recommend, and it keeps a person's own training row from
taking a neighbour's place when their history has not changed since training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tactful.models.ease import dense

IDENTICAL = 1.0 - 1e-5  # cosine at or above which a stored row counts as the history itself


@dataclass(frozen=True)
class UserNeighbours:
    """Stored weighted histories (``rows``: people × items) and the neighbourhood shape."""

    rows: sp.csr_matrix
    neighbours: int
    power: float

    @property
    def n_items(self) -> int:
        return int(self.rows.shape[1])

    def warm(self) -> UserNeighbours:
        """Build the item-wise view now (a served model does it at load, not on a request)."""
        self._columns()
        return self

    def _columns(self) -> sp.csr_matrix:
        """Items × people, each person's row scaled to unit length (built on first use)."""
        columns = getattr(self, "_by_item", None)
        if columns is None:
            norms = np.sqrt(np.asarray(self.rows.multiply(self.rows).sum(axis=1)).ravel())
            scale = sp.diags(1.0 / np.maximum(norms, 1e-12).astype(np.float32))
            columns = sp.csr_matrix((scale @ self.rows).T, dtype=np.float32)
            columns.sort_indices()
            object.__setattr__(self, "_by_item", columns)
        return columns

    def similarities(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Cosine of one history with every stored person it shares an item with."""
        idx = np.asarray(indices, dtype=np.int64)
        weights = np.asarray(values, dtype=np.float64)
        keep = weights > 0
        idx, weights = idx[keep], weights[keep]
        norm = float(np.sqrt(weights @ weights))
        if not len(idx) or norm == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        columns = self._columns()
        starts, stops = columns.indptr[idx], columns.indptr[idx + 1]
        lengths = stops - starts
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        positions = np.arange(int(lengths.sum())) + offsets
        dots = columns.data[positions] * np.repeat(weights / norm, lengths)
        # one pass over the stored people (not a sort of every shared entry): popular items
        # are shared with many people, and this stays linear in what the history touches
        sums = np.bincount(columns.indices[positions], weights=dots, minlength=columns.shape[1])
        found = np.flatnonzero(sums)
        return found.astype(np.int64), sums[found].astype(np.float32)

    def contributions(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Votes of the nearest people as ``(items, scores)``; every other item scores 0."""
        people, sims = self.similarities(indices, values)
        people, sims = self._nearest(people, sims)
        if not len(people):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows = self.rows
        starts, stops = rows.indptr[people], rows.indptr[people + 1]
        lengths = stops - starts
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        positions = np.arange(int(lengths.sum())) + offsets
        votes = rows.data[positions] * np.repeat(self._strength(sims), lengths)
        items, inverse = np.unique(rows.indices[positions], return_inverse=True)
        return items.astype(np.int64), np.bincount(inverse, weights=votes).astype(np.float32)

    def scores(
        self, indices: npt.NDArray[np.integer], values: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.float32]:
        return dense(self.n_items, *self.contributions(indices, values))

    def batch_similarities(self, matrix: sp.csr_matrix) -> npt.NDArray[np.float32]:
        """Cosine of every row of a people × items weight matrix with every stored person."""
        queries = sp.csr_matrix(matrix, dtype=np.float32)
        queries.data = np.maximum(queries.data, 0.0)
        norms = np.sqrt(np.asarray(queries.multiply(queries).sum(axis=1)).ravel())
        queries = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ queries)
        return np.asarray((queries @ self._columns()).todense(), dtype=np.float32)

    def batch_scores(
        self, matrix: sp.csr_matrix, similarities: npt.NDArray[np.float32] | None = None
    ) -> npt.NDArray[np.float32]:
        """Scores for every row of a people × items weight matrix (validation, evaluation).

        ``similarities`` (from :meth:`batch_similarities` of the same rows) saves
        recomputing them when several shapes are scored.
        """
        sims = self.batch_similarities(matrix) if similarities is None else similarities
        sims = np.where((sims > 0) & (sims < IDENTICAL), sims, 0.0).astype(np.float32)
        k = min(self.neighbours, sims.shape[1])
        if k < sims.shape[1]:
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            kept = np.zeros_like(sims)
            np.put_along_axis(kept, top, np.take_along_axis(sims, top, axis=1), axis=1)
            sims = kept
        weights = sp.csr_matrix(self._strength(sims))
        return np.asarray((weights @ self.rows).todense(), dtype=np.float32)

    def _nearest(
        self, people: npt.NDArray[np.int64], sims: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        keep = (sims > 0) & (sims < IDENTICAL)
        people, sims = people[keep], sims[keep]
        if len(people) > self.neighbours:
            top = np.argpartition(-sims, self.neighbours - 1)[: self.neighbours]
            people, sims = people[top], sims[top]
        return people, sims

    def _strength(self, sims: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return sims if self.power == 1.0 else np.power(sims, np.float32(self.power))


def fit_user_neighbours(weights: sp.csr_matrix, neighbours: int = 50, power: float = 1.0) -> UserNeighbours:
    """Keep the weighted histories (positive weights only) for neighbourhood scoring."""
    rows = sp.csr_matrix(weights, dtype=np.float32, copy=True)
    rows.data = np.maximum(rows.data, 0.0)
    rows.eliminate_zeros()
    rows.sort_indices()
    return UserNeighbours(rows, int(neighbours), float(power))
