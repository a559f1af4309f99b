"""Diversity over tags (P10): maximal marginal relevance, or calibration to the person's tag mix.

Both are greedy re-rankers over a shortlist of the best candidates; pure numpy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tactful.scoring.content import tag_overlap

EPS = 1e-9
CALIBRATION_ALPHA = 0.01


def _relevance(scores: np.ndarray) -> np.ndarray:
    low, high = float(scores.min()), float(scores.max())
    return (scores - low) / (high - low) if high - low > EPS else np.ones_like(scores)


def mmr(
    candidates: np.ndarray, scores: np.ndarray, item_tag_norm: sp.csr_matrix, k: int, lam: float
) -> list[int]:
    """Pick ``k`` of ``candidates`` trading relevance (``lam``) against tag redundancy (``1 - lam``).

    Each step takes the free candidate with the best ``lam·rel − (1−lam)·(closest similarity
    to a chosen one)``; that value is kept as a running minimum over the chosen items' rows.
    """
    k = min(k, candidates.size)
    if k <= 0:
        return []
    rel = _relevance(scores)
    # row c: every candidate's value if c were the only chosen item
    value_given = (lam * rel)[None, :] - (1.0 - lam) * tag_overlap(item_tag_norm, candidates).T
    best = int(np.argmax(rel))
    chosen = [best]
    value = value_given[best].copy()
    value[best] = -np.inf
    while len(chosen) < k:
        best = int(np.argmax(value))
        chosen.append(best)
        np.minimum(value, value_given[best], out=value)
        value[best] = -np.inf
    return [int(candidates[c]) for c in chosen]


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
