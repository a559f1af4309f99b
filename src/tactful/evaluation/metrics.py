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


@dataclass(frozen=True)
class UserMetrics:
    """Per-test-user metrics of one model's top lists (the unit the bootstrap resamples)."""

    ndcg: npt.NDArray[np.float64]
    recall: npt.NDArray[np.float64]
    hit_rate: npt.NDArray[np.float64]
    diversity: npt.NDArray[np.float64]  # NaN for a list with no tagged pair
    novelty: npt.NDArray[np.float64]
    top: npt.NDArray[np.int64]  # users × k items, the top-10 lists (for coverage)
    n_items: int


def per_user_metrics(
    lists: Sequence[IntArray],
    targets: Sequence[IntArray],
    n_items: int,
    item_users: npt.NDArray[np.integer],
    n_users: int,
    item_tags: Sequence[frozenset[str]] = (),
) -> UserMetrics:
    """The SPEC §5 metrics for each test user separately (means give :func:`evaluate_lists`)."""
    pairs = list(zip(lists, targets, strict=True))
    diversity = []
    for ranked in lists:
        value = intra_list_diversity([ranked], item_tags, 10)
        tags = [item_tags[i] for i in np.asarray(ranked)[:10]] if item_tags else []
        diversity.append(value if len(tags) > 1 else np.nan)
    width = min(10, min((len(x) for x in lists), default=0))
    top = np.array([np.asarray(x)[:width] for x in lists], dtype=np.int64).reshape(len(lists), width)
    return UserMetrics(
        ndcg=np.array([ndcg_at_k(r, t, 10) for r, t in pairs], dtype=np.float64),
        recall=np.array([recall_at_k(r, t, 20) for r, t in pairs], dtype=np.float64),
        hit_rate=np.array([hit_rate_at_k(r, t, 10) for r, t in pairs], dtype=np.float64),
        diversity=np.array(diversity, dtype=np.float64),
        novelty=np.array([novelty([r], item_users, n_users, 10) for r in lists], dtype=np.float64),
        top=top,
        n_items=n_items,
    )


def report_of(metrics: UserMetrics, rows: npt.NDArray[np.integer] | None = None) -> dict[str, float]:
    """Aggregate metrics over ``rows`` of the users (all of them by default)."""
    pick = np.arange(len(metrics.ndcg)) if rows is None else np.asarray(rows)
    if len(pick) == 0:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    diversity = metrics.diversity[pick]
    diversity = diversity[~np.isnan(diversity)]
    coverage = len(np.unique(metrics.top[pick])) / metrics.n_items if metrics.n_items else 0.0
    return {
        "ndcg@10": float(metrics.ndcg[pick].mean()),
        "recall@20": float(metrics.recall[pick].mean()),
        "hr@10": float(metrics.hit_rate[pick].mean()),
        "coverage@10": coverage,
        "diversity@10": float(diversity.mean()) if len(diversity) else 0.0,
        "novelty@10": float(metrics.novelty[pick].mean()),
    }


METRIC_NAMES = ("ndcg@10", "recall@20", "hr@10", "coverage@10", "diversity@10", "novelty@10")


def bootstrap_samples(n_users: int, rounds: int, seed: int) -> npt.NDArray[np.int64]:
    """``rounds`` resamples (with replacement) of the test users, shared by every model (paired)."""
    return np.random.default_rng(seed).integers(0, n_users, size=(rounds, n_users))


def bootstrap_intervals(
    metrics: UserMetrics, samples: npt.NDArray[np.int64], level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every aggregate metric over bootstrap resamples of test users."""
    if len(metrics.ndcg) == 0:
        return {name: (0.0, 0.0) for name in METRIC_NAMES}
    values: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    for rows in samples:
        for name, value in report_of(metrics, rows).items():
            values[name].append(value)
    tail = 100 * (1 - level) / 2
    point = report_of(metrics)
    out = {}
    for name, v in values.items():
        # percentile interval moved by the resamples' bias: coverage (distinct items) shrinks
        # under resampling with replacement, a mean does not (its shift is ~0)
        shift = point[name] - float(np.mean(v))
        out[name] = (float(np.percentile(v, tail)) + shift, float(np.percentile(v, 100 - tail)) + shift)
    return out


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
