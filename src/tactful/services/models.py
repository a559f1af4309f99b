"""The model service: train from stored profiles, publish, and serve the new version at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tactful.clock import Clock, to_epoch
from tactful.metrics import metrics
from tactful.models.spark_als import SparkAlsParams
from tactful.models.store import ModelStore
from tactful.services.event_export import ExportReport, export_events
from tactful.services.model_registry import ModelRegistry
from tactful.services.spark_training import train_on_spark
from tactful.services.training import TrainReport, train_model
from tactful.signals.rules import SignalRules
from tactful.storage.protocol import Store


class ModelService:
    """Trains the collaborative model and swaps it into this worker's registry."""

    def __init__(
        self,
        store: Store,
        registry: ModelRegistry,
        half_lives: dict[str, float],
        models: ModelStore,
        clock: Clock,
        rules: SignalRules | None = None,
        on_published: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.on_published = list(on_published)
        self.store = store
        self.registry = registry
        self.half_lives = half_lives
        self.model_store = models
        self.clock = clock
        self.rules = rules or SignalRules()

    def train(self, progress: Callable[[str], None] = lambda _: None) -> TrainReport:
        started = time.perf_counter()
        report = train_model(
            self.store,
            self.store.item_ids(),  # the catalog's order, without building the catalog index
            self.half_lives,
            self.model_store,
            to_epoch(self.clock.now()),
            progress,
        )
        metrics().retrain_seconds.observe(time.perf_counter() - started)
        self.registry.reload(wait=True)
        for callback in self.on_published:  # e.g. other workers load it now, not at their next poll
            callback()
        return report

    def export_events(
        self, url: str, overwrite: bool = False, progress: Callable[[int], None] = lambda _: None
    ) -> ExportReport:
        """Every stored event as day-partitioned Parquet at ``url`` (a folder or fsspec URL)."""
        return export_events(self.store, url, overwrite=overwrite, progress=progress)

    def train_spark(
        self,
        export_url: str,
        params: SparkAlsParams | None = None,
        master: str = "local[*]",
        conf: Mapping[str, str] | None = None,
        spark: Any = None,
        progress: Callable[[str], None] = lambda _: None,
    ) -> TrainReport:
        """Train MLlib ALS on Spark from an export, publish it, and serve it here at once."""
        report = train_on_spark(
            self.store,
            self.model_store,
            export_url,
            self.rules.rules,
            self.half_lives,
            to_epoch(self.clock.now()),
            params,
            master,
            conf,
            spark,
            progress,
        )
        self.registry.reload(wait=True)
        for callback in self.on_published:
            callback()
        return report
