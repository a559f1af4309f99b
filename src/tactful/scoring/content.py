"""Tag content: items whose tags match the person's interests (works for cold items)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tactful.scoring.context import ScoringContext, normalized


class ContentScorer:
    name = "content"

    def score(self, ctx: ScoringContext) -> np.ndarray | None:
        if not np.any(ctx.tag_vector):
            return None
        # the float64 copy: what scipy would upcast ``item_tag_norm`` to on every call
        return normalized(np.asarray(ctx.catalog.derived.item_tag_norm64 @ ctx.tag_vector).ravel())


def tag_similarity(item_tag_norm: sp.csr_matrix, pos: int) -> np.ndarray:
    """Cosine similarity over tags between item ``pos`` and every item."""
    return np.asarray((item_tag_norm @ item_tag_norm[pos].T).toarray()).ravel()


def _entries(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored entries of ``rows``: owner (index into ``rows``), column, value."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    offsets = np.cumsum(lengths) - lengths
    take = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    return np.repeat(np.arange(rows.size), lengths), matrix.indices[take], matrix.data[take]


def tag_overlap(matrix: sp.csr_matrix, left: np.ndarray, right: np.ndarray | None = None) -> np.ndarray:
    """Dense ``matrix[left] @ matrix[right].T`` for short row lists (``right`` defaults to ``left``).

    Serving compares a handful of items at a time (a shortlist, a list against the items a
    person liked): the rows are laid out densely over just the columns they use and
    multiplied as two small blocks, instead of going through scipy's per-call overhead.
    """
    left = np.asarray(left, dtype=np.int64)
    rows = left if right is None else np.concatenate([left, np.asarray(right, dtype=np.int64)])
    dtype = np.result_type(matrix.dtype, np.float32)
    owner, cols, vals = _entries(matrix, rows)
    used = np.zeros(matrix.shape[1], dtype=np.int64)
    used[cols] = 1
    compact = np.cumsum(used) - 1  # each used column's place among the used ones
    column = compact[cols]
    block = np.zeros((rows.size, int(compact[-1]) + 1 if cols.size else 0), dtype=dtype)
    np.add.at(block, (owner, column), vals)
    a = block[: left.size]
    b = a if right is None else block[left.size :]
    return np.asarray(a @ b.T, dtype=dtype)
