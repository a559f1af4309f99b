"""Top-k selection over dense score vectors, with exclusions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


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
    """Row-wise top ``k`` of a users × items score matrix, masking each row's exclusions."""
    values = np.array(scores, dtype=np.float32, copy=True)
    rows = np.repeat(np.arange(exclude.shape[0]), np.diff(exclude.indptr))
    values[rows, exclude.indices] = -np.inf
    k = min(k, values.shape[1])
    part = np.argpartition(-values, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(values, part, axis=1)
    order = np.argsort(-picked, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)
