"""Filling a data folder with the demo library, listeners and trained models."""

from __future__ import annotations

import numpy as np

from tactful.cli.console import batches_with_progress, console
from tactful.config.settings import Settings
from tactful.demo.library import build_library, simulate_listeners
from tactful.domain.item import TagMeta
from tactful.engine import Engine

BATCH = 5_000


def build_demo(settings: Settings, people: int = 300, seed: int = 7) -> str:
    """Idempotent: event ids are deterministic, so running it twice adds nothing new."""
    rng = np.random.default_rng(seed)
    with Engine(settings) as engine:
        library = build_library(rng)
        engine.upsert_items(library.items)
        engine.declare_tags(
            [
                TagMeta(tag=f"genre:{g}", label=g.replace("-", " ").title())
                for g in ("jazz", "rock", "classical")
            ]
        )
        events = simulate_listeners(rng, library, people, engine.clock.now())
        chunks = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
        accepted = 0
        for chunk in batches_with_progress(chunks, len(events), "listening history"):
            accepted += engine.ingest(chunk).accepted
        trained = _train(engine)
        stats = engine.store.stats()
    return (
        f"demo library: {stats['items']} albums, {stats['persons']} listeners, "
        f"{stats['events']} events ({accepted} new); {trained}; data in {settings.data_dir}"
    )


def _train(engine: Engine) -> str:
    console.print("training the collaborative model…")
    return str(engine.train())
