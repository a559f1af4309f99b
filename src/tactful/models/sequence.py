"""Item-to-item transitions: what people go on to after an item, read off timed histories.

Where a log has timestamps, the order of a history says something the item model cannot:
what a person did last points at what they do next. ``T_ij`` is the share of the items
that followed ``i`` within ``window`` steps (in anyone's training history) that were
``j``; a person's sequence score is ``Σ_k decay^k T[item_k]`` over their ``last`` most
recent items, newest first (``k = 0``). The matrix keeps at most ``neighbours`` entries
per row, so a score costs ``last × neighbours`` additions at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

NEIGHBOURS = 200


@dataclass(frozen=True)
class SequenceModel:
    """Row-normalised forward transitions (rows: the earlier item)."""

    transitions: sp.csr_matrix
    last: int = 20
    decay: float = 0.9

    @property
    def n_items(self) -> int:
        return int(self.transitions.shape[0])

    def recent(
        self, indices: npt.NDArray[np.integer], timestamps: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.int64]:
        """The ``last`` most recent items of a history, newest first (equal times: higher item first)."""
        idx = np.asarray(indices, dtype=np.int64)
        ts = np.asarray(timestamps, dtype=np.float64)
        order = np.lexsort((idx, ts))[::-1]
        return idx[order[: self.last]]

    def contributions(
        self, recent: npt.NDArray[np.integer]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Sequence scores as ``(items, scores)`` for a newest-first ``recent`` list (others score 0)."""
        t = self.transitions
        idx = np.asarray(recent, dtype=np.int64)
        starts, stops = t.indptr[idx], t.indptr[idx + 1]
        lengths = (stops - starts).astype(np.int64)
        total = int(lengths.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        positions = np.arange(total) + offsets
        weights = np.repeat(self.decay ** np.arange(len(idx), dtype=np.float64), lengths)
        items, inverse = np.unique(t.indices[positions], return_inverse=True)
        sums = np.bincount(inverse, weights=t.data[positions] * weights, minlength=len(items))
        return items.astype(np.int64), sums.astype(np.float32)

    def batch_scores(self, recent_rows: sp.csr_matrix) -> npt.NDArray[np.float32]:
        """Scores for rows of decay weights at each row's recent items (see :func:`recent_matrix`)."""
        return np.asarray((recent_rows @ self.transitions).toarray(), dtype=np.float32)


def ordered_histories(times: sp.csr_matrix) -> list[npt.NDArray[np.int32]]:
    """Each row's items oldest first (equal times keep column order)."""
    t = sp.csr_matrix(times, dtype=np.float64)
    t.sort_indices()
    owner = np.repeat(np.arange(t.shape[0]), np.diff(t.indptr))
    order = np.lexsort((np.arange(t.nnz), t.data, owner))
    items = t.indices[order]
    return [items[lo:hi] for lo, hi in zip(t.indptr[:-1], t.indptr[1:], strict=True)]


def fit_sequence_model(
    times: sp.csr_matrix,
    window: int = 30,
    last: int = 20,
    decay: float = 0.9,
    neighbours: int = NEIGHBOURS,
) -> SequenceModel:
    """Count, for every item, the items that follow it within ``window`` steps; row-normalise."""
    n = times.shape[1]
    rows, cols = [], []
    for seq in ordered_histories(times):
        for step in range(1, min(window, len(seq) - 1) + 1):
            rows.append(seq[:-step])
            cols.append(seq[step:])
    if not rows:
        return SequenceModel(sp.csr_matrix((n, n), dtype=np.float32), last, decay)
    r, c = np.concatenate(rows), np.concatenate(cols)
    counts = sp.csr_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(n, n))
    counts.sum_duplicates()
    counts.setdiag(0.0)
    counts.eliminate_zeros()
    counts = _prune_rows(counts, neighbours)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    normalised = sp.csr_matrix(sp.diags(1.0 / np.maximum(totals, 1e-12)) @ counts, dtype=np.float32)
    normalised.sort_indices()
    return SequenceModel(normalised, last, decay)


def recent_matrix(times: sp.csr_matrix, last: int, decay: float) -> sp.csr_matrix:
    """Per row, ``decay^k`` at the row's ``k``-th most recent item (``k < last``), zero elsewhere."""
    t = sp.csr_matrix(times, dtype=np.float64)
    t.sort_indices()
    owner = np.repeat(np.arange(t.shape[0]), np.diff(t.indptr))
    order = np.lexsort((-np.arange(t.nnz), -t.data, owner))
    rank = np.empty(t.nnz, dtype=np.int64)
    rank[order] = np.arange(t.nnz) - t.indptr[owner[order]]
    keep = rank < last
    return sp.csr_matrix(
        (decay ** rank[keep].astype(np.float64), (owner[keep], t.indices[keep])),
        shape=t.shape,
        dtype=np.float32,
    )


def _prune_rows(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """The ``keep`` largest entries of each row (ties: lower column first)."""
    m = sp.csr_matrix(matrix)
    m.sort_indices()
    counts = np.diff(m.indptr)
    if counts.max(initial=0) <= keep:
        return m
    owner = np.repeat(np.arange(m.shape[0]), counts)
    top = float(m.data.max()) + 1.0
    # one stable sort on (row, larger first); stability keeps lower columns first on ties
    order = np.argsort(owner * top + (top - m.data), kind="stable")
    rank = np.empty(m.nnz, dtype=np.int64)
    rank[order] = np.arange(m.nnz) - m.indptr[owner[order]]
    mask = rank < keep
    return sp.csr_matrix((m.data[mask], (owner[mask], m.indices[mask])), shape=m.shape)
