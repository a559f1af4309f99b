"""Spark MLlib ALS (``tactful train --engine spark``) against the in-process ALS, in one run.

Usage::

    python benchmarks/spark_als.py [--data DIR] [--runs 3] [--master local[2]] [--json]

Both models are trained on the same SPEC §5 holdout split of ml-latest-small and scored
through the same serving path:

- the training part of the split is written as a day-partitioned Parquet event export by
  the exporter ``tactful export-events`` uses (``rate`` events, explicit provenance);
- **spark**: the Spark job (``tactful.models.spark_als``) turns the export into per-person
  item values with the rule table (a rating ``r`` weighs ``(r − 3) × 1.5``, positive part),
  fits MLlib ALS, and the factors become a served artifact (``factor_artifact``);
- **in-process**: the same values computed in numpy from the split feed ``implicit``'s ALS
  (``fit_factor_model``, the factor part of the default recommender), saved the same way;
- each test user's training history is folded in by ``Recommender.score`` (the request-time
  fold-in the servers run) and the top 10 not already seen are scored against the held-out
  targets. Popularity is the floor.

No decay is applied (half-lives of 10⁹ days): MovieLens spans 22 years, and a 180-day
half-life would leave old ratings with no weight in either engine. Timings are wall seconds
of training alone; Spark's include its job overhead, not the JVM start.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from tactful.evaluation.dataset import read_movielens
from tactful.evaluation.metrics import evaluate_lists
from tactful.evaluation.runner import rank_users
from tactful.evaluation.split import Split, holdout_split
from tactful.models.als import fit_factor_model
from tactful.models.recommender import Recommender, RecommenderConfig, factor_artifact
from tactful.models.spark_als import SparkAlsParams, spark_session, train_spark_factors
from tactful.models.weighting import SignalWeighting, default_weighting, detect_value_kind
from tactful.services.event_export import CONSENTS, EVENTS, write_event_export
from tactful.signals.rules import SignalRules
from tactful.storage.protocol import EventColumns

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"
NO_DECAY = {"explicit": 1e9, "observed": 1e9, "inferred": 1e9, "imported": 1e9}
PAGE = 20_000


def export_split(split: Split, url: str) -> None:
    """The split's training interactions as a tactful event export (pages of columns)."""
    data = split.train_data
    n = len(data.users)
    assert data.timestamps is not None
    order = np.argsort(data.timestamps, kind="stable")

    def pages() -> Any:
        for start in range(0, n, PAGE):
            rows = order[start : start + PAGE]
            yield EventColumns(
                seq=tuple(int(s) + 1 for s in rows),
                event_id=tuple(f"ml-{s}" for s in rows),
                user_id=tuple(str(data.user_ids[data.users[s]]) for s in rows),
                item_id=tuple(str(data.item_ids[data.items[s]]) for s in rows),
                type=("rate",) * len(rows),
                value=tuple(float(data.values[s]) for s in rows),
                ts=tuple(float(data.timestamps[s]) for s in rows),
                provenance=("explicit",) * len(rows),
                surface=(None,) * len(rows),
                recommendation_id=(None,) * len(rows),
            )

    write_event_export(pages(), url, consents={}, erasure_seq=0)


def rule_values(split: Split) -> sp.csr_matrix:
    """Per-person item values as the rule table gives them: ``(r − 3) × 1.5``, positive part."""
    rule = SignalRules().rule("rate")
    data = split.train_data
    weights = (data.values.astype(np.float64) - rule.center) * rule.weight
    keep = weights > 0
    matrix = sp.csr_matrix(
        (weights[keep].astype(np.float32), (data.users[keep], data.items[keep])),
        shape=(data.n_users, data.n_items),
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def ndcg_of(model: Recommender, split: Split, values: sp.csr_matrix) -> dict[str, float]:
    def scorer(users: np.ndarray) -> np.ndarray:
        rows = values[users]
        out = np.empty((len(users), values.shape[1]), dtype=np.float32)
        for r in range(len(users)):
            lo, hi = rows.indptr[r], rows.indptr[r + 1]
            out[r] = model.score(rows.indices[lo:hi], rows.data[lo:hi])
        return out

    lists = rank_users(scorer, split.train, split.test_users)
    data = split.train_data
    item_users = np.diff(sp.csc_matrix(split.train).indptr)
    report = evaluate_lists(lists, split.targets, data.n_items, item_users, data.n_users, data.item_tags)
    return {"ndcg@10": report.ndcg, "recall@20": report.recall}


def popularity_ndcg(split: Split) -> float:
    counts = np.diff(sp.csc_matrix(split.train).indptr).astype(np.float32)
    lists = rank_users(lambda users: np.tile(counts, (len(users), 1)), split.train, split.test_users)
    data = split.train_data
    item_users = np.diff(sp.csc_matrix(split.train).indptr)
    return evaluate_lists(lists, split.targets, data.n_items, item_users, data.n_users).ndcg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--spark-regularization", type=float, default=SparkAlsParams().regularization)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data = read_movielens(args.data)
    split = holdout_split(data, seed=0)
    values = rule_values(split)
    item_ids = [str(i) for i in split.train_data.item_ids]
    kind = detect_value_kind(values.data)
    weighting: SignalWeighting = default_weighting(kind, values.data)
    rules = SignalRules().rules
    now = float(np.max(split.train_data.timestamps)) + 1.0  # type: ignore[arg-type]
    params = SparkAlsParams(
        factors=args.factors, iterations=args.iterations, regularization=args.spark_regularization, alpha=2.0
    )
    runs: dict[str, list[dict[str, float]]] = {"in-process": [], "spark": []}
    with tempfile.TemporaryDirectory() as tmp:
        export = f"{tmp}/export"
        started = time.perf_counter()
        export_split(split, export)
        export_s = time.perf_counter() - started
        spark = spark_session(args.master)
        try:
            for run in range(args.runs):
                started = time.perf_counter()
                local = fit_factor_model(
                    weighting.matrix(values), args.factors, 0.05, 2.0, args.iterations, run
                )
                local_s = time.perf_counter() - started
                cfg = RecommenderConfig(
                    value_kind=kind,
                    tune=False,
                    weighting=weighting,
                    factors=args.factors,
                    factor_regularization=0.05,
                    factor_alpha=2.0,
                    factor_weight=1.0,
                )
                popularity = np.diff(sp.csc_matrix(values).indptr).astype(np.float32)
                model = Recommender(factor_artifact(item_ids, local.item_factors, popularity, cfg))
                runs["in-process"].append({**ndcg_of(model, split, values), "train_s": local_s})

                result = train_spark_factors(
                    spark,
                    f"{export}/{EVENTS}",
                    f"{export}/{CONSENTS}",
                    rules,
                    NO_DECAY,
                    now,
                    item_ids,
                    SparkAlsParams(
                        factors=params.factors,
                        iterations=params.iterations,
                        regularization=params.regularization,
                        alpha=params.alpha,
                        seed=run,
                    ),
                )
                assert result.interactions == values.nnz, (result.interactions, values.nnz)
                assert result.weighting == weighting, (result.weighting, weighting)
                scfg = RecommenderConfig(
                    value_kind=result.value_kind,
                    tune=False,
                    weighting=result.weighting,
                    factors=args.factors,
                    factor_regularization=result.fold_regularization,
                    factor_alpha=2.0,
                    factor_weight=1.0,
                )
                smodel = Recommender(factor_artifact(item_ids, result.item_factors, result.popularity, scfg))
                runs["spark"].append({**ndcg_of(smodel, split, values), "train_s": result.seconds})
                if not args.json:
                    print(f"run {run}: in-process {runs['in-process'][-1]}  spark {runs['spark'][-1]}")
        finally:
            spark.stop()

    def median(name: str, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[name]))

    local_ndcg, spark_ndcg = median("in-process", "ndcg@10"), median("spark", "ndcg@10")
    report = {
        "split": split.summary(),
        "interactions": int(values.nnz),
        "export_s": round(export_s, 2),
        "runs": args.runs,
        "params": {
            "factors": args.factors,
            "iterations": args.iterations,
            "alpha": 2.0,
            "in_process_regularization": 0.05,
            "spark_regularization": args.spark_regularization,
        },
        "popularity_ndcg@10": round(popularity_ndcg(split), 4),
        "in_process": {k: round(median("in-process", k), 4) for k in ("ndcg@10", "recall@20", "train_s")},
        "spark": {k: round(median("spark", k), 4) for k in ("ndcg@10", "recall@20", "train_s")},
        "spark_vs_in_process": round(spark_ndcg / local_ndcg, 4),
        "within_10_percent": bool(spark_ndcg >= 0.9 * local_ndcg),
    }
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
