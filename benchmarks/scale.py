"""Synthetic scale benchmark: power-law catalog, clustered tastes, play-count values.

Default size: 100k items, 200k people, 10M events (``--scale 0.1`` for a quick run).
Reports training time, peak memory (RSS), in-process recommendation latency p50/p99 of
the exact and the ANN path, the floor (a raw numpy top-k on the same item factors with a
precomputed user vector), and the ANN recall against the exact top-k. Usage::

    python benchmarks/scale.py [--scale 1.0] [--users-sampled 1000] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from tactful.models.ann import exact_top_k, recall_against_exact  # noqa: E402
from tactful.models.ranking import top_k  # noqa: E402
from tactful.models.recommender import Recommender  # noqa: E402


def synthetic_plays(
    n_items: int, n_users: int, n_events: int, clusters: int = 100, seed: int = 0
) -> sp.csr_matrix:
    """Users × items play counts: Zipf item popularity, 70 % of plays in a home cluster."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, n_users)
    per_user = rng.poisson(activity / activity.sum() * n_events) + 1
    users = np.repeat(np.arange(n_users, dtype=np.int32), per_user)
    home = rng.integers(0, clusters, n_users)[users]
    global_cdf = np.cumsum(1.0 / np.arange(1, n_items + 1) ** 0.9)
    global_cdf /= global_cdf[-1]
    per_cluster = n_items // clusters
    cluster_cdf = np.cumsum(1.0 / np.arange(1, per_cluster + 1) ** 0.9)
    cluster_cdf /= cluster_cdf[-1]
    in_cluster = rng.random(len(users)) < 0.7
    items = np.searchsorted(global_cdf, rng.random(len(users))).astype(np.int64)
    ranks = np.searchsorted(cluster_cdf, rng.random(int(in_cluster.sum())))
    items[in_cluster] = ranks * clusters + home[in_cluster]
    plays = rng.geometric(0.3, len(users)).astype(np.float32)
    matrix = sp.csr_matrix((plays, (users, np.minimum(items, n_items - 1))), shape=(n_users, n_items))
    matrix.sum_duplicates()
    return matrix


def _percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.array(samples) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def _recall_by_ef(model: Recommender, vectors: np.ndarray) -> dict[str, float]:
    """ANN recall@10 against the exact inner-product top 10, per search breadth ``ef``."""
    index = model.item_index()
    factors = model.factors.item_factors
    out = {}
    for ef in (100, 300, 1000):
        index.ef = ef
        out[f"ef={ef}"] = round(recall_against_exact(index, factors, vectors, 10), 4)
    index.ef = 300
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time_requests(
    model: Recommender,
    rows: list[tuple[np.ndarray, np.ndarray]],
    vectors: list[np.ndarray],
    timings: dict[str, list[float]],
) -> None:
    """Exact path, ANN path and the numpy floor, one person at a time."""
    factors = model.factors.item_factors
    for (idx, vals), vector in zip(rows, vectors, strict=True):
        t0 = time.perf_counter()
        model.recommend(idx, vals, k=10)
        t1 = time.perf_counter()
        model.recommend(idx, vals, k=10, approximate=True)
        t2 = time.perf_counter()
        top_k(factors @ vector, 10)
        t3 = time.perf_counter()
        timings["exact"].append(t1 - t0)
        timings["ann"].append(t2 - t1)
        timings["numpy_floor"].append(t3 - t2)


def run(scale: float, sampled: int, seed: int = 0) -> dict[str, Any]:
    n_items, n_users, n_events = int(100_000 * scale), int(200_000 * scale), int(10_000_000 * scale)
    started = time.perf_counter()
    plays = synthetic_plays(n_items, n_users, n_events, seed=seed)
    generate_s = time.perf_counter() - started
    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    model = Recommender.fit(plays, [f"i{i}" for i in range(n_items)])
    train_s = time.perf_counter() - started
    rss_after_fit = _peak_rss_mb()
    started = time.perf_counter()
    model.item_index()
    index_s = time.perf_counter() - started

    rng = np.random.default_rng(seed)
    people = rng.choice(n_users, min(sampled, n_users), replace=False)
    rows = [(plays[u].indices, plays[u].data) for u in people]
    factors = model.factors.item_factors
    vectors = [model.user_vector(i, v) for i, v in rows]
    timings: dict[str, list[float]] = {"exact": [], "ann": [], "numpy_floor": []}
    with threadpool_limits(limits=1, user_api="blas"):
        _time_requests(model, rows, vectors, timings)
    overlap = [
        len(np.intersect1d(model.recommend(i, v, 10)[0], model.recommend(i, v, 10, approximate=True)[0])) / 10
        for i, v in rows[:200]
    ]
    return {
        "items": n_items,
        "people": n_users,
        "events": n_events,
        "nnz": int(plays.nnz),
        "generate_s": round(generate_s, 2),
        "train_s": round(train_s, 2),
        "ann_build_s": round(index_s, 2),
        "peak_rss_mb_before_fit": round(rss_before, 1),
        "peak_rss_mb": round(max(rss_after_fit, _peak_rss_mb()), 1),
        "config": model.config.to_dict(),
        "latency": {name: _percentiles(samples) for name, samples in timings.items()},
        "ann_recall@10_vs_exact_factor_top10": _recall_by_ef(model, np.array(vectors[:500])),
        "ann_path_overlap@10_vs_exact_path": round(float(np.mean(overlap)), 4),
        "exact_factor_top10_example": exact_top_k(factors, vectors[0], 10).tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--users-sampled", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args.scale, args.users_sampled)
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:40s} {value}")


if __name__ == "__main__":
    main()
