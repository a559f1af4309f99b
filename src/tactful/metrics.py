"""Prometheus metrics: what every layer counts, exposed at ``/metrics``.

Names follow Prometheus conventions: a ``tactful_`` prefix, base units (seconds), ``_total``
on counters, and labels of small fixed sets only (routes as templates, event types the
rules know, configured surfaces, rule names); never a person or item id.

The metric objects are made on first use, not at import, so that ``tactful serve
--workers N`` can switch prometheus-client to its multiprocess mode (every process,
the supervisor that retrains included, writes its values to files in one folder, and
``/metrics`` on any worker sums them) before any value exists: see
:func:`use_multiprocess`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TRAIN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class Metrics:
    """Every metric tactful exports."""

    request_seconds: Histogram
    events_ingested: Counter
    recommendations_served: Counter
    policy_denials: Counter
    fold_cache: Counter
    answer_cache: Counter
    model_info: Gauge
    model_validation_ndcg: Gauge
    retrain_seconds: Histogram
    redis_up: Gauge
    redis_errors: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = REGISTRY) -> Metrics:
        return cls(
            request_seconds=Histogram(
                "tactful_http_request_duration_seconds",
                "HTTP request latency by route template, method and status class.",
                ["route", "method", "status"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            events_ingested=Counter(
                "tactful_events_ingested_total",
                "Events stored, by event type (duplicates not counted).",
                ["type"],
                registry=registry,
            ),
            recommendations_served=Counter(
                "tactful_recommendations_served_total",
                "Recommendation lists served, by surface (unconfigured surfaces count as 'other').",
                ["surface"],
                registry=registry,
            ),
            policy_denials=Counter(
                "tactful_policy_denials_total",
                "Candidates among a list's best-scored (5 × n) that a policy rule denied, by rule.",
                ["reason"],
                registry=registry,
            ),
            fold_cache=Counter(
                "tactful_fold_cache_lookups_total",
                "Collaborative folds of long histories: hit (kept scores reused), updated (kept fold "
                "moved by what changed) or miss (folded from scratch).",
                ["result"],
                registry=registry,
            ),
            answer_cache=Counter(
                "tactful_answer_cache_lookups_total",
                "Kept answers: hit (served again) or miss (computed).",
                ["result"],
                registry=registry,
            ),
            model_info=Gauge(
                "tactful_model_info",
                "1 for the model version a worker serves.",
                ["version"],
                registry=registry,
                multiprocess_mode="livemax",
            ),
            model_validation_ndcg=Gauge(
                "tactful_model_validation_ndcg",
                "Validation NDCG@10 of the served model (from its training run's tuning).",
                registry=registry,
                multiprocess_mode="livemax",
            ),
            retrain_seconds=Histogram(
                "tactful_retrain_duration_seconds",
                "Wall time of each training run.",
                buckets=TRAIN_BUCKETS,
                registry=registry,
            ),
            redis_up=Gauge(
                "tactful_redis_up",
                "1 while this worker reaches Redis, 0 while it serves without it.",
                registry=registry,
                multiprocess_mode="livemin",
            ),
            redis_errors=Counter(
                "tactful_redis_errors_total",
                "Redis calls that failed (serving went on without Redis).",
                registry=registry,
            ),
        )


_metrics: Metrics | None = None
_lock = threading.Lock()


def metrics() -> Metrics:
    """The process's metrics, made on first use."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = Metrics.create()
    return _metrics


def use_multiprocess(directory: Path) -> None:
    """Write this process's (and its children's) metrics as files in ``directory``.

    Call before anything is measured; the children inherit the setting through the
    environment. The folder is emptied: values of processes from an earlier run must not
    be added to this one's.
    """
    if _metrics is not None:
        raise RuntimeError("metrics already in use in this process: switch to multiprocess mode first")
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> tuple[bytes, str]:
    """The text format body and its content type: this process's values, or every process's."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    metrics()  # so a fresh process still lists every metric
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """A worker is gone: its live gauges stop counting (its counters are kept)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


def observe_model(previous: str | None, version: str | None, ndcg: float | None) -> None:
    """The served model changed from ``previous`` to ``version``."""
    m = metrics()
    if previous is not None:
        m.model_info.labels(previous).set(0)
    if version is not None:
        m.model_info.labels(version).set(1)
    if ndcg is not None:
        m.model_validation_ndcg.set(ndcg)
