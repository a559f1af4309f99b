"""In-process recommendation latency at ml-latest-small scale (9.7k items), top-10.

Trains the default recommender on the SPEC §5 training split, then times
``Recommender.recommend`` (fold-in + scoring + top-k) for every person, several rounds,
with one BLAS thread as in a serving worker, against a raw numpy top-k on the same ALS
factors as the floor. Usage::

    python benchmarks/latency_movielens.py [--data DIR] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from tactful.evaluation.dataset import read_movielens
from tactful.evaluation.split import holdout_split
from tactful.models.ranking import top_k
from tactful.models.recommender import Recommender

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"


def run(data_dir: Path, rounds: int) -> dict[str, Any]:
    split = holdout_split(read_movielens(data_dir))
    started = time.perf_counter()
    model = Recommender.fit(split.train, split.train_data.item_ids, split.train_times)
    train_s = time.perf_counter() - started
    train = split.train
    people = [(train[u].indices, train[u].data) for u in range(train.shape[0])]
    vectors = [model.user_vector(i, v) for i, v in people]
    factors = model.factors.item_factors
    recommend: list[float] = []
    floor: list[float] = []
    # A serving worker runs with one BLAS thread: threaded BLAS only adds jitter to
    # single-person requests (set once per process, as here).
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(rounds):
            for (idx, vals), vector in zip(people, vectors, strict=True):
                t0 = time.perf_counter()
                model.recommend(idx, vals, k=10)
                t1 = time.perf_counter()
                top_k(factors @ vector, 10, idx)
                t2 = time.perf_counter()
                recommend.append(t1 - t0)
                floor.append(t2 - t1)

    def stats(samples: list[float]) -> dict[str, float]:
        ms = np.array(samples) * 1000
        return {
            "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
        }

    return {
        "items": int(train.shape[1]),
        "people": int(train.shape[0]),
        "train_s": round(train_s, 2),
        "config": model.config.to_dict(),
        "recommend": stats(recommend),
        "numpy_floor": stats(floor),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args.data, args.rounds)
    if args.json:
        print(json.dumps(report))
        return
    for key, value in report.items():
        print(f"{key:14s} {value}")


if __name__ == "__main__":
    main()
