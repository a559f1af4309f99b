"""Offline evaluation (SPEC §5): readers, the holdout split, metrics, peers and the runner."""

from tactful.evaluation.dataset import Dataset, read_event_log, read_movielens
from tactful.evaluation.runner import run_evaluation
from tactful.evaluation.split import Split, holdout_split

__all__ = [
    "Dataset",
    "Split",
    "holdout_split",
    "read_event_log",
    "read_movielens",
    "run_evaluation",
]
