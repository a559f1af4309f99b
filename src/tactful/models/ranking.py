"""Top-k selection over dense score vectors, with exclusions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

ROW_CHUNK = 64  # columns per block whose maximum bounds a row's k-th best score from below


def top_k(
    scores: npt.NDArray[np.floating],
    k: int,
    exclude: npt.NDArray[np.integer] | None = None,
) -> npt.NDArray[np.int64]:
    """Indices of the ``k`` best scores, best first, skipping ``exclude`` (ties: lower index)."""
    values = np.asarray(scores)
    banned = np.zeros(0, dtype=np.int64)
    if exclude is not None and len(exclude):
        banned = np.unique(np.asarray(exclude, dtype=np.int64))
        values = values.copy()
        values[banned] = -np.inf
    k = max(0, min(k, len(values) - len(banned)))
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-values, k - 1)[:k] if k < len(values) else np.arange(len(values))
    order = np.lexsort((part, -values[part]))
    return part[order].astype(np.int64)


def top_k_rows(scores: npt.NDArray[np.floating], exclude: sp.csr_matrix, k: int) -> npt.NDArray[np.int64]:
    """Row-wise top ``k`` of a users × items score matrix, masking each row's exclusions.

    Best first; ties go to the lower index, as in :func:`top_k`. Validation tuning ranks
    dozens of such matrices, so the selection avoids a row-wide ``argpartition``: the
    maxima of ``ROW_CHUNK``-wide blocks give a floor (``k`` blocks reach their maximum, so
    the ``k``-th best value is at least the ``k``-th best block maximum) and only the
    entries at or above it are sorted.
    """
    values = np.array(scores, dtype=np.float32, copy=True)
    n_rows, n = values.shape
    rows = np.repeat(np.arange(exclude.shape[0]), np.diff(exclude.indptr))
    values[rows, exclude.indices] = -np.inf
    np.copyto(values, np.float32(-np.inf), where=np.isnan(values))  # NaN ranks last, never breaks the bound
    k = min(k, n)
    if k <= 0 or n_rows == 0:
        return np.zeros((n_rows, max(k, 0)), dtype=np.int64)
    starts = np.arange(0, n, ROW_CHUNK)
    maxima = np.maximum.reduceat(values, starts, axis=1)
    floor = np.full((n_rows, 1), -np.inf, dtype=np.float32)
    if len(starts) > k:
        floor = -np.partition(-maxima, k - 1, axis=1)[:, k - 1 : k]
    block_rows, blocks = np.nonzero(maxima >= floor)
    cols = blocks[:, None] * ROW_CHUNK + np.arange(ROW_CHUNK)[None, :]
    inside = cols < n
    cols = np.where(inside, cols, n - 1)
    picked = values[block_rows[:, None], cols]
    keep = inside & (picked >= floor[block_rows])
    r = np.broadcast_to(block_rows[:, None], cols.shape)[keep]
    c, v = cols[keep], picked[keep]
    order = np.lexsort((c, -v, r))
    r, c = r[order], c[order]
    rank = np.arange(len(r)) - np.searchsorted(r, np.arange(n_rows))[r]
    return c[rank < k].reshape(n_rows, k).astype(np.int64)
