"""Runs tactful's default recommender and the peers on one split and reports SPEC §5 metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tactful.evaluation.dataset import Dataset
from tactful.evaluation.metrics import evaluate_lists
from tactful.evaluation.peers import PEERS, Peer, Scorer
from tactful.evaluation.split import Split, holdout_split
from tactful.models.ranking import top_k_rows
from tactful.models.recommender import Recommender, RecommenderConfig

Progress = Callable[[str], None]
BATCH = 256


@dataclass(frozen=True)
class Evaluation:
    """One dataset's split and the models to compare on it."""

    split: Split
    config: RecommenderConfig

    def tactful(self) -> Peer:
        split, config = self.split, self.config
        kind = split.train_data.value_kind

        def train(matrix: sp.csr_matrix) -> Scorer:
            model = Recommender.fit(
                matrix,
                split.train_data.item_ids,
                split.train_times,
                replace(config, value_kind=kind),
            )
            return lambda users: model.batch_scores(matrix[users])

        return Peer("tactful", train)


def rank_users(
    scorer: Scorer, train: sp.csr_matrix, users: npt.NDArray[np.int32], k: int = 20
) -> list[npt.NDArray[np.int64]]:
    """Top-``k`` lists for each user, training items excluded, in batches."""
    lists: list[npt.NDArray[np.int64]] = []
    for start in range(0, len(users), BATCH):
        batch = users[start : start + BATCH]
        lists.extend(top_k_rows(scorer(batch), sp.csr_matrix(train[batch]), k))
    return lists


def evaluate_model(peer: Peer, split: Split) -> dict[str, Any]:
    """Train one model on the split's training data and score its top lists."""
    train = split.train
    started = time.perf_counter()
    scorer = peer.train(train)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    lists = rank_users(scorer, train, split.test_users)
    rank_s = time.perf_counter() - started
    data = split.train_data
    item_users = np.diff(sp.csc_matrix(train).indptr)
    report = evaluate_lists(lists, split.targets, data.n_items, item_users, data.n_users, data.item_tags)
    return {
        "name": peer.name,
        **report.as_dict(),
        "train_s": round(train_s, 3),
        "rank_ms_per_user": round(1000 * rank_s / max(len(lists), 1), 3),
    }


def run_evaluation(
    data: Dataset,
    config: RecommenderConfig | None = None,
    peers: tuple[Peer, ...] = PEERS,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``{"split": {...}, "results": [tactful, *peers]}`` for one dataset."""
    split = holdout_split(data, seed=seed)
    evaluation = Evaluation(split, config or RecommenderConfig(seed=seed))
    results = []
    for peer in (evaluation.tactful(), *peers):
        if progress is not None:
            progress(peer.name)
        results.append(evaluate_model(peer, split))
    return {"split": split.summary(), "results": results}
