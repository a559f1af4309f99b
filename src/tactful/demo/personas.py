"""The described people of the demo: each built from the demo library's simulation.

A visitor to the demo switches between them to see what tactful does for each: a new
visitor (general content), an engaged listener (personal reasons), someone who muted a
topic (it is gone, and nothing learned through it remains), and someone who opted out of a
sensitive category (everything learned through it is forgotten).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from tactful.demo.library import GENRES, Library, listen
from tactful.domain.item import Item
from tactful.engine import Engine


@dataclass(frozen=True)
class Persona:
    id: str
    name: str
    story: str


VISITOR = Persona(
    "demo-visitor",
    "A new visitor",
    "Has never been here. Sees popular and trending albums until they give a signal: "
    "tactful does not guess from nothing.",
)
LISTENER = Persona(
    "demo-listener",
    "An engaged listener",
    "Has listened to jazz and soul on most days of the last month and liked what stuck.",
)
MUTED = Persona(
    "demo-muted",
    "Someone who muted a topic",
    "Listened to a lot of metal and rock, then muted metal: it is gone from the feed, and "
    "nothing learned through those albums remains.",
)
OPTED_OUT = Persona(
    "demo-opted-out",
    "Someone who opted out of a sensitive category",
    "Opted in to religious music, listened to faith albums, then opted out again: everything "
    "learned through them is forgotten.",
)
PERSONAS = [VISITOR, LISTENER, MUTED, OPTED_OUT]


def _genre_mask(library: Library, *names: str) -> np.ndarray:
    return np.isin(library.item_genre, [GENRES.index(n) for n in names])


def build_personas(engine: Engine, library: Library, items: list[Item], now: datetime, seed: int) -> None:
    """Give each described person their history (idempotent: event ids are deterministic)."""
    rng = np.random.default_rng(seed + 10_007)  # apart from the listeners' stream
    engine.ingest(
        listen(rng, library, LISTENER.id, "persona-l", "pl", _genre_mask(library, "jazz", "soul"), 14, now)
    )
    engine.ingest(
        listen(rng, library, MUTED.id, "persona-m", "pm", _genre_mask(library, "metal", "rock"), 10, now)
    )
    engine.mute_topic(MUTED.id, "genre:metal")
    faith = np.array(["topic:faith" in item.tags for item in items])
    engine.set_consent(OPTED_OUT.id, {"sensitive_opt_in": ["religion"]})
    engine.ingest(
        listen(rng, library, OPTED_OUT.id, "persona-o", "po", faith | _genre_mask(library, "folk"), 10, now)
    )
    engine.set_consent(OPTED_OUT.id, {"sensitive_opt_in": []})
