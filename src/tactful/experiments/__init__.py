"""Experiments, pure: specs and state, assignment, metrics, analysis and decisions.

The service that stores experiments, assigns people at request time and logs exposures is
:mod:`tactful.services.experiments`; the statistics are :mod:`tactful.statistics`.
"""

from tactful.experiments.metrics import METRICS, Metric
from tactful.experiments.model import (
    BUCKETS,
    HOLDOUT_ID,
    Experiment,
    ExperimentSpec,
    Rollout,
    RolloutStep,
    Status,
    VariantSpec,
)

__all__ = [
    "BUCKETS",
    "HOLDOUT_ID",
    "METRICS",
    "Experiment",
    "ExperimentSpec",
    "Metric",
    "Rollout",
    "RolloutStep",
    "Status",
    "VariantSpec",
]
