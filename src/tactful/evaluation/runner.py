"""Runs tactful's default recommender and the peers on one split and reports SPEC §5 metrics.

Every metric comes with a bootstrap 95 % interval over test users (the same resamples for
every model, so intervals are paired), and tactful is compared with the best
validation-tuned peer by a paired test over test users.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy import stats

from tactful.evaluation.dataset import Dataset
from tactful.evaluation.metrics import (
    METRIC_NAMES,
    UserMetrics,
    bootstrap_intervals,
    bootstrap_samples,
    per_user_metrics,
    report_of,
)
from tactful.evaluation.peers import PEERS, Fitted, Peer, PeerData, Scorer
from tactful.evaluation.split import Split, holdout_split
from tactful.models.ranking import top_k_rows
from tactful.models.recommender import Recommender, RecommenderConfig

Progress = Callable[[str], None]
BATCH = 256
BOOTSTRAP_ROUNDS = 1000


def tactful_peer(config: RecommenderConfig, item_ids: npt.NDArray[np.str_], name: str = "tactful") -> Peer:
    """tactful's default recommender as a peer (it tunes itself on its own validation split)."""

    def train(data: PeerData) -> Fitted:
        model = Recommender.fit(data.matrix, item_ids, data.times, replace(config, value_kind=data.kind))
        matrix, times = data.matrix, data.times

        def scorer(users: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
            return model.batch_scores(matrix[users], None if times is None else times[users])

        cfg = model.config
        params: dict[str, Any] = {
            "weighting": cfg.signal_weighting.to_dict(),
            "regularization_ratio": cfg.regularization_ratio,
            "factor_weight": cfg.factor_weight,
            "popularity_weight": cfg.popularity_weight,
            "sequence_weight": cfg.sequence_weight,
        }
        if cfg.user_weight > 0:
            params["users"] = {
                "weight": cfg.user_weight,
                "neighbours": cfg.user_neighbours,
                "power": cfg.user_power,
            }
        if cfg.sequence_weight > 0:
            params["sequence"] = {
                "window": cfg.sequence_window,
                "last": cfg.sequence_last,
                "decay": cfg.sequence_decay,
            }
        return Fitted(scorer, params, model.artifact.extra.get("validation_ndcg@10"), model=model)

    return Peer(name, train, "tactful")


def rank_users(
    scorer: Scorer, train: sp.csr_matrix, users: npt.NDArray[np.int32], k: int = 20
) -> list[npt.NDArray[np.int64]]:
    """Top-``k`` lists for each user, training items excluded, in batches."""
    lists: list[npt.NDArray[np.int64]] = []
    for start in range(0, len(users), BATCH):
        batch = users[start : start + BATCH]
        lists.extend(top_k_rows(scorer(batch), sp.csr_matrix(train[batch]), k))
    return lists


@dataclass(frozen=True)
class ModelRun:
    """One model trained on the split and its per-user metrics."""

    peer: Peer
    fitted: Fitted
    metrics: UserMetrics
    train_s: float
    rank_s: float


def peer_data(split: Split, seed: int = 0) -> PeerData:
    return PeerData(split.train, split.train_times, split.train_data.value_kind, seed)


def run_model(peer: Peer, split: Split, seed: int = 0) -> ModelRun:
    """Train one model on the split's training data and score its top lists per user."""
    train = split.train
    started = time.perf_counter()
    fitted = peer.train(peer_data(split, seed))
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    lists = rank_users(fitted.scorer, train, split.test_users)
    rank_s = time.perf_counter() - started
    data = split.train_data
    item_users = np.diff(sp.csc_matrix(train).indptr)
    metrics = per_user_metrics(lists, split.targets, data.n_items, item_users, data.n_users, data.item_tags)
    return ModelRun(peer, fitted, metrics, train_s, rank_s)


def evaluate_model(peer: Peer, split: Split, seed: int = 0) -> dict[str, Any]:
    """One model's report row (no intervals)."""
    return result_row(run_model(peer, split, seed), None)


def result_row(run: ModelRun, samples: npt.NDArray[np.int64] | None) -> dict[str, Any]:
    row: dict[str, Any] = {"name": run.peer.name, "kind": run.peer.kind}
    row.update({k: round(v, 4) for k, v in report_of(run.metrics).items()})
    if samples is not None:
        row["ci95"] = {
            k: [round(lo, 4), round(hi, 4)]
            for k, (lo, hi) in bootstrap_intervals(run.metrics, samples).items()
        }
    row["params"] = run.fitted.params
    if run.fitted.validation_ndcg is not None:
        row["validation_ndcg@10"] = round(float(run.fitted.validation_ndcg), 4)
    if run.fitted.trials:
        row["trials"] = run.fitted.trials
    row["train_s"] = round(run.train_s, 3)
    row["rank_ms_per_user"] = round(1000 * run.rank_s / max(len(run.metrics.ndcg), 1), 3)
    return row


def paired_comparison(
    ours: ModelRun, peer: ModelRun, samples: npt.NDArray[np.int64], level: float = 0.95
) -> dict[str, Any]:
    """tactful against one peer on the same test users: ratio, its interval, paired tests."""
    a, b = ours.metrics.ndcg, peer.metrics.ndcg
    out: dict[str, Any] = {"peer": peer.peer.name, "metric": "ndcg@10", "users": len(a)}
    if len(a) == 0:
        return out
    ratio = float(a.mean() / b.mean()) if b.mean() > 0 else float("inf")
    boot_a, boot_b = a[samples].mean(axis=1), b[samples].mean(axis=1)
    ratios = boot_a / np.where(boot_b > 0, boot_b, np.nan)
    diffs = boot_a - boot_b
    tail = 100 * (1 - level) / 2
    differ = a != b
    wilcoxon_p = float(stats.wilcoxon(a[differ], b[differ]).pvalue) if differ.sum() >= 10 else 1.0
    out.update(
        ratio=round(ratio, 4),
        ratio_ci95=[
            round(float(np.nanpercentile(ratios, tail)), 4),
            round(float(np.nanpercentile(ratios, 100 - tail)), 4),
        ],
        difference=round(float(a.mean() - b.mean()), 4),
        difference_ci95=[
            round(float(np.percentile(diffs, tail)), 4),
            round(float(np.percentile(diffs, 100 - tail)), 4),
        ],
        wilcoxon_p=wilcoxon_p,
        ttest_p=float(stats.ttest_rel(a, b).pvalue) if len(a) > 1 and differ.any() else 1.0,
        wins=int((a > b).sum()),
        losses=int((a < b).sum()),
        ties=int((a == b).sum()),
    )
    return out


def build_report(
    split: Split, runs: list[ModelRun], seed: int = 0, rounds: int = BOOTSTRAP_ROUNDS
) -> dict[str, Any]:
    """The JSON report: split, one row per model with intervals, and the paired comparison."""
    samples = bootstrap_samples(len(split.test_users), rounds, seed)
    report: dict[str, Any] = {
        "split": split.summary(),
        "bootstrap": {"rounds": rounds, "level": 0.95, "unit": "test user"},
        "results": [result_row(run, samples) for run in runs],
    }
    ours = next((r for r in runs if r.peer.kind == "tactful"), None)
    tuned = [r for r in runs if r.peer.kind == "tuned"]
    if ours is not None and tuned:
        best = max(tuned, key=lambda r: float(r.metrics.ndcg.mean()) if len(r.metrics.ndcg) else 0.0)
        report["comparison"] = paired_comparison(ours, best, samples)
    return report


def run_models(
    data: Dataset,
    config: RecommenderConfig | None = None,
    peers: tuple[Peer, ...] = PEERS,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[Split, list[ModelRun]]:
    """The split and every model's run on it, tactful first."""
    split = holdout_split(data, seed=seed)
    ours = tactful_peer(config or RecommenderConfig(seed=seed), split.train_data.item_ids)
    runs = []
    for peer in (ours, *peers):
        if progress is not None:
            progress(peer.name)
        runs.append(run_model(peer, split, seed))
    return split, runs


def run_evaluation(
    data: Dataset,
    config: RecommenderConfig | None = None,
    peers: tuple[Peer, ...] = PEERS,
    seed: int = 0,
    progress: Progress | None = None,
    rounds: int = BOOTSTRAP_ROUNDS,
) -> dict[str, Any]:
    """``{"split", "bootstrap", "results": [tactful, *peers], "comparison"}`` for one dataset."""
    split, runs = run_models(data, config, peers, seed, progress)
    return build_report(split, runs, seed, rounds)


__all__ = [
    "METRIC_NAMES",
    "ModelRun",
    "build_report",
    "evaluate_model",
    "paired_comparison",
    "rank_users",
    "run_evaluation",
    "run_models",
    "tactful_peer",
]
