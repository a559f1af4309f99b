"""The model service: train from stored profiles, publish, and serve the new version at once."""

from __future__ import annotations

from collections.abc import Callable

from tactful.clock import Clock, to_epoch
from tactful.models.store import ModelStore
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
        models: ModelStore,
        clock: Clock,
    ) -> None:
        self.store = store
        self.registry = registry
        self.half_lives = half_lives
        self.model_store = models
        self.clock = clock

    def train(self, progress: Callable[[str], None] = lambda _: None) -> TrainReport:
        report = train_model(
            self.store,
            self.store.item_ids(),  # the catalog's order, without building the catalog index
            self.half_lives,
            self.model_store,
            to_epoch(self.clock.now()),
            progress,
        )
        self.registry.reload(wait=True)
        return report
