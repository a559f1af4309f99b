"""The model service: train from stored profiles, publish, and serve the new version at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tactful.clock import Clock, to_epoch
from tactful.metrics import metrics
from tactful.services.model_registry import ModelRegistry
from tactful.services.training import TrainReport, train_model
from tactful.storage.protocol import Store


class ModelService:
    """Trains the collaborative model and swaps it into this worker's registry."""

    def __init__(
        self,
        store: Store,
        registry: ModelRegistry,
        half_lives: dict[str, float],
        model_dir: Path,
        clock: Clock,
        on_published: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.on_published = list(on_published)
        self.store = store
        self.registry = registry
        self.half_lives = half_lives
        self.model_dir = model_dir
        self.clock = clock

    def train(self, progress: Callable[[str], None] = lambda _: None) -> TrainReport:
        started = time.perf_counter()
        report = train_model(
            self.store,
            self.store.item_ids(),  # the catalog's order, without building the catalog index
            self.half_lives,
            self.model_dir,
            to_epoch(self.clock.now()),
            progress,
        )
        metrics().retrain_seconds.observe(time.perf_counter() - started)
        self.registry.reload(wait=True)
        for callback in self.on_published:  # e.g. other workers load it now, not at their next poll
            callback()
        return report
