"""Filling a data folder with the demo library, listeners and trained models."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from tactful.config.settings import Settings
from tactful.demo.library import (
    GENRES,
    SENSITIVE_TOPICS,
    TOPICS,
    build_library,
    simulate_listeners,
    with_topics,
)
from tactful.demo.personas import build_personas
from tactful.domain.event import Event
from tactful.domain.item import TagMeta
from tactful.engine import Engine

GENRE_LABELS = {"hip-hop": "Hip-hop"}
ProgressFn = Callable[[list[list[Event]], int, str], Iterable[list[Event]]]

BATCH = 5_000


def build_demo(
    settings: Settings,
    people: int = 300,
    seed: int = 7,
    progress: ProgressFn = lambda chunks, total, label: chunks,
    say: Callable[[str], None] = lambda message: None,
) -> str:
    """Idempotent: event ids are deterministic, so running it twice adds nothing new.

    ``progress`` wraps the event batches (the CLI shows a bar); ``say`` prints a status line.
    """
    rng = np.random.default_rng(seed)
    with Engine(settings) as engine:
        library = build_library(rng)
        items = with_topics(library)
        engine.upsert_items(items)
        engine.declare_tags(
            [
                TagMeta(tag=f"genre:{g}", label=GENRE_LABELS.get(g, g.replace("-", " ").title()))
                for g in GENRES
            ]
            + [
                TagMeta(
                    tag=f"topic:{t}",
                    label=t.replace("-", " ").capitalize(),
                    sensitive_category=SENSITIVE_TOPICS.get(t),
                )
                for t in TOPICS
            ]
        )
        events = simulate_listeners(rng, library, people, engine.clock.now())
        chunks = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
        accepted = 0
        for chunk in progress(chunks, len(events), "listening history"):
            accepted += engine.ingest(chunk).accepted
        build_personas(engine, library, items, engine.clock.now(), seed)
        say("training the collaborative model…")
        trained = str(engine.train())
        stats = engine.store.stats()
    return (
        f"demo library: {stats['items']} albums, {stats['persons']} listeners, "
        f"{stats['events']} events ({accepted} new); {trained}; data in {settings.data_dir}"
    )
