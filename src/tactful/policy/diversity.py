"""Diversity over tags (P10): maximal marginal relevance, or calibration to the person's tag mix.

Both are greedy re-rankers over a shortlist of the best candidates; pure numpy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

EPS = 1e-9
CALIBRATION_ALPHA = 0.01


def _relevance(scores: np.ndarray) -> np.ndarray:
    low, high = float(scores.min()), float(scores.max())
    return (scores - low) / (high - low) if high - low > EPS else np.ones_like(scores)


def mmr(
    candidates: np.ndarray, scores: np.ndarray, item_tag_norm: sp.csr_matrix, k: int, lam: float
) -> list[int]:
    """Pick ``k`` of ``candidates`` trading relevance (``lam``) against tag redundancy (``1 - lam``)."""
    if k <= 0 or candidates.size == 0:
        return []
    rel = _relevance(scores)
    sim = pairwise_similarity(item_tag_norm, candidates)
    chosen: list[int] = [int(np.argmax(rel))]
    closest = sim[:, chosen[0]].copy()
    free = np.ones(candidates.size, dtype=bool)
    free[chosen[0]] = False
    relevance, redundancy = lam * rel, 1.0 - lam
    while len(chosen) < min(k, candidates.size):
        value = np.where(free, relevance - redundancy * closest, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        free[best] = False
        closest = np.maximum(closest, sim[:, best])
    return [int(candidates[c]) for c in chosen]


def _gather(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The stored entries of ``rows`` in stored order: owner (index into ``rows``), column, value."""
    starts = matrix.indptr[rows]
    lengths = matrix.indptr[rows + 1] - starts
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    take = np.repeat(starts - offsets, lengths) + np.arange(total)
    owner = np.repeat(np.arange(rows.size), lengths)
    return owner, matrix.indices[take], matrix.data[take]


def pairwise_similarity(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """``(matrix[rows] @ matrix[rows].T).toarray()`` off the diagonal, without scipy's per-call overhead.

    The sparse product sums each pair's shared columns in the row's stored order. When
    every row is stored in one column order (ascending or descending, as the catalog
    builds them) the same products are added here in that order (``np.add.at`` is
    unbuffered and in index order), so the values are bit-identical. Only columns shared by
    two or more rows are visited, so the diagonal is not complete (MMR never compares an
    item with itself); any other layout takes the sparse path.
    """
    rows = np.asarray(rows, dtype=np.int64)
    owner, cols, vals = _gather(matrix, rows)
    same = owner[1:] == owner[:-1]
    step = np.diff(cols)[same]
    order = 1
    if step.size and not (step > 0).all():
        if not (step < 0).all():
            sub = matrix[rows]
            return np.asarray((sub @ sub.T).toarray())
        order = -1
    sim = np.zeros((rows.size, rows.size), dtype=np.result_type(matrix.dtype, matrix.dtype))
    counts = np.bincount(cols, minlength=matrix.shape[1])
    keep = counts[cols] > 1
    if not keep.any():
        return sim
    owner, cols, vals = owner[keep], cols[keep], vals[keep]
    by_col = np.lexsort((owner, order * cols))  # groups of rows sharing a column, in stored order
    owner, cols, vals = owner[by_col], cols[by_col], vals[by_col]
    size = counts[cols]  # rows in each entry's column group
    starts = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
    first = np.repeat(starts, counts[cols[starts]])  # each entry's group start
    left = np.repeat(np.arange(cols.size), size)  # each entry, once per member of its group
    right = first[left] + np.arange(left.size) - np.repeat(np.cumsum(size) - size, size)
    np.add.at(sim, (owner[left], owner[right]), vals[left] * vals[right])
    return sim


def calibrate(
    candidates: np.ndarray,
    scores: np.ndarray,
    item_tag: sp.csr_matrix,
    target: np.ndarray,
    k: int,
    lam: float,
) -> list[int]:
    """Pick ``k`` of ``candidates`` whose tag mix stays close (KL) to ``target`` (Steck 2018).

    ``target`` is the person's interest per catalog tag; only its positive part counts.
    Without a positive target there is nothing to calibrate to and relevance order is kept.
    """
    if k <= 0 or candidates.size == 0:
        return []
    rel = _relevance(scores)
    support = np.flatnonzero(target > 0)
    if support.size == 0:
        return [int(candidates[c]) for c in np.argsort(-rel, kind="stable")[:k]]
    p = target[support] / target[support].sum()
    rows = item_tag[candidates]
    counts = np.asarray(rows.sum(axis=1)).ravel()
    dist = np.asarray(rows[:, support].toarray()) / np.maximum(counts, 1.0)[:, None]
    total = np.zeros(support.size)
    chosen: list[int] = []
    free = np.ones(candidates.size, dtype=bool)
    while len(chosen) < min(k, candidates.size):
        q = (total[None, :] + dist) / (len(chosen) + 1)
        mix = (1.0 - CALIBRATION_ALPHA) * q + CALIBRATION_ALPHA * p[None, :]
        kl = (p[None, :] * np.log(p[None, :] / np.maximum(mix, EPS))).sum(axis=1)
        value = np.where(free, lam * rel - (1.0 - lam) * kl, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        free[best] = False
        total += dist[best]
    return [int(candidates[c]) for c in chosen]
