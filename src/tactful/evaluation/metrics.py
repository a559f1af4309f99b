"""Top-k ranking metrics of SPEC §5, plus tag diversity and novelty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.integer]


def _hits(ranked: IntArray, targets: IntArray, k: int) -> npt.NDArray[np.bool_]:
    return np.isin(np.asarray(ranked)[:k], targets)


def ndcg_at_k(ranked: IntArray, targets: IntArray, k: int = 10) -> float:
    """Binary-gain NDCG; the ideal DCG places ``min(|targets|, k)`` hits first."""
    if len(targets) == 0:
        return 0.0
    hits = _hits(ranked, targets, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(discounts[: len(hits)][hits].sum())
    ideal = float(discounts[: min(len(targets), k)].sum())
    return dcg / ideal


def recall_at_k(ranked: IntArray, targets: IntArray, k: int = 20) -> float:
    """Hits in the top ``k`` divided by ``min(|targets|, k)``."""
    if len(targets) == 0:
        return 0.0
    return float(_hits(ranked, targets, k).sum()) / min(len(targets), k)


def hit_rate_at_k(ranked: IntArray, targets: IntArray, k: int = 10) -> float:
    """1 when any target is in the top ``k``."""
    return float(_hits(ranked, targets, k).any())


def coverage_at_k(lists: Sequence[IntArray], n_items: int, k: int = 10) -> float:
    """Distinct items across all top-``k`` lists over the catalog size."""
    if n_items == 0 or not lists:
        return 0.0
    return len(np.unique(np.concatenate([np.asarray(x)[:k] for x in lists]))) / n_items


def intra_list_diversity(
    lists: Sequence[IntArray], item_tags: Sequence[frozenset[str]], k: int = 10
) -> float:
    """Mean pairwise Jaccard distance between tag sets within each top-``k`` list."""
    if not item_tags:
        return 0.0
    scores = []
    for ranked in lists:
        tags = [item_tags[i] for i in np.asarray(ranked)[:k]]
        pairs = [
            1.0 - len(a & b) / len(a | b) if a | b else 0.0 for i, a in enumerate(tags) for b in tags[i + 1 :]
        ]
        if pairs:
            scores.append(float(np.mean(pairs)))
    return float(np.mean(scores)) if scores else 0.0


def novelty(
    lists: Sequence[IntArray], item_users: npt.NDArray[np.integer], n_users: int, k: int = 10
) -> float:
    """Mean self-information ``-log2(p(i))`` of recommended items, ``p`` = share of users."""
    if not lists or n_users == 0:
        return 0.0
    recommended = np.concatenate([np.asarray(x)[:k] for x in lists])
    share = np.maximum(item_users[recommended], 1) / n_users
    return float(np.mean(-np.log2(share)))


@dataclass(frozen=True)
class RankingReport:
    """Aggregate metrics of one model's top lists."""

    ndcg: float
    recall: float
    hit_rate: float
    coverage: float
    diversity: float
    novelty: float

    def as_dict(self) -> dict[str, float]:
        return {
            "ndcg@10": round(self.ndcg, 4),
            "recall@20": round(self.recall, 4),
            "hr@10": round(self.hit_rate, 4),
            "coverage@10": round(self.coverage, 4),
            "diversity@10": round(self.diversity, 4),
            "novelty@10": round(self.novelty, 4),
        }


def evaluate_lists(
    lists: Sequence[IntArray],
    targets: Sequence[IntArray],
    n_items: int,
    item_users: npt.NDArray[np.integer],
    n_users: int,
    item_tags: Sequence[frozenset[str]] = (),
) -> RankingReport:
    """Score top-20 lists (one per test user) against their targets."""
    return RankingReport(
        ndcg=float(np.mean([ndcg_at_k(r, t, 10) for r, t in zip(lists, targets, strict=True)])),
        recall=float(np.mean([recall_at_k(r, t, 20) for r, t in zip(lists, targets, strict=True)])),
        hit_rate=float(np.mean([hit_rate_at_k(r, t, 10) for r, t in zip(lists, targets, strict=True)])),
        coverage=coverage_at_k(lists, n_items, 10),
        diversity=intra_list_diversity(lists, item_tags, 10),
        novelty=novelty(lists, item_users, n_users, 10),
    )
