"""A synthetic media library and simulated listeners, seeded and realistic enough to demo with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from tactful.domain.event import Event, EventContext
from tactful.domain.identifiers import slug
from tactful.domain.item import Item, ItemAttributes

GENRES = ["jazz", "rock", "classical", "hip-hop", "electronic", "folk", "ambient", "soul", "metal", "latin"]
MOODS = ["calm", "energetic", "melancholy", "uplifting", "dark", "romantic"]
ERAS = ["1960s", "1970s", "1980s", "1990s", "2000s", "2010s", "2020s"]
FIRST = ["Blue", "Silver", "Midnight", "Golden", "Quiet", "Electric", "Northern", "Velvet", "Paper", "Wild"]
SECOND = ["Harbor", "Engine", "Garden", "Signal", "River", "Lantern", "Orchard", "Circuit", "Canyon", "Choir"]
WORDS = [
    "Nights",
    "Echoes",
    "Sessions",
    "Letters",
    "Horizons",
    "Stories",
    "Weather",
    "Tides",
    "Rooms",
    "Lines",
]


@dataclass(frozen=True)
class Library:
    items: list[Item]
    item_genre: np.ndarray
    item_creator: np.ndarray
    quality: np.ndarray


def build_library(rng: np.random.Generator, n_items: int = 600, n_creators: int = 90) -> Library:
    """Albums with genre, mood, era and creator tags; quality is heavy-tailed."""
    creator_genre = rng.integers(0, len(GENRES), n_creators)
    creators = [
        f"{FIRST[i % 10]} {SECOND[(i * 7) % 10]}" + ("" if i < 100 else f" {i}") for i in range(n_creators)
    ]
    item_creator = rng.zipf(1.6, n_items) % n_creators
    item_genre = np.where(
        rng.random(n_items) < 0.85, creator_genre[item_creator], rng.integers(0, len(GENRES), n_items)
    )
    quality = rng.lognormal(0.0, 0.8, n_items)
    items = []
    seen: dict[str, int] = {}
    for i in range(n_items):
        g = GENRES[item_genre[i]]
        mood = MOODS[rng.integers(0, len(MOODS))]
        era = ERAS[rng.integers(0, len(ERAS))]
        base = f"{WORDS[rng.integers(0, 10)]} of the {SECOND[rng.integers(0, 10)]}"
        volume = seen[base] = seen.get(base, 0) + 1
        title = base if volume == 1 else f"{base}, Vol. {volume}"
        tags = [
            f"genre:{g}",
            f"mood:{mood}",
            f"era:{era}",
            f"creator:{slug(creators[item_creator[i]])}-{item_creator[i]}",
        ]
        items.append(
            Item(
                id=f"album-{i:04d}",
                title=title,
                tags=tags,
                attributes=ItemAttributes(price=round(float(rng.uniform(5, 25)), 2)),
            )
        )
    return Library(items=items, item_genre=item_genre, item_creator=item_creator, quality=quality)


def listen(
    rng: np.random.Generator,
    library: Library,
    user_id: str,
    prefix: str,
    session: str,
    favoured: np.ndarray,
    sessions: int,
    now: datetime,
    days: int = 30,
) -> list[Event]:
    """One listener's sessions: plays (long for ``favoured`` items), some likes, the odd dislike."""
    events: list[Event] = []
    n_items = len(library.items)
    affinity = np.where(favoured, 6.0, 0.3) * library.quality
    probs = affinity / affinity.sum()
    for s in range(sessions):
        start = now - timedelta(days=float(rng.uniform(0, days)))
        for k, item in enumerate(rng.choice(n_items, size=rng.integers(2, 9), p=probs)):
            at = start + timedelta(minutes=4 * k)
            liked_genre = bool(favoured[item])
            seconds = float(rng.uniform(60, 400) if liked_genre else rng.uniform(5, 90))
            ctx = EventContext(session=f"{session}-s{s}", device="web")
            iid = library.items[item].id
            base = f"{prefix}-{s}-{k}"
            events.append(
                Event(
                    id=f"{base}-play",
                    user_id=user_id,
                    item_id=iid,
                    type="play",
                    value=round(seconds, 1),
                    timestamp=at,
                    context=ctx,
                )
            )
            roll = rng.random()
            if liked_genre and roll < 0.25:
                events.append(
                    Event(
                        id=f"{base}-like",
                        user_id=user_id,
                        item_id=iid,
                        type="like",
                        timestamp=at + timedelta(seconds=30),
                        context=ctx,
                    )
                )
            elif not liked_genre and roll < 0.08:
                events.append(
                    Event(
                        id=f"{base}-dislike",
                        user_id=user_id,
                        item_id=iid,
                        type="dislike",
                        timestamp=at + timedelta(seconds=30),
                        context=ctx,
                    )
                )
    return events


def simulate_listeners(
    rng: np.random.Generator, library: Library, people: int, now: datetime, days: int = 30
) -> list[Event]:
    """Listeners with one or two favourite genres: plays, skips, likes and the odd dislike."""
    events: list[Event] = []
    for p in range(people):
        favs = rng.choice(len(GENRES), size=rng.integers(1, 3), replace=False)
        favoured = np.isin(library.item_genre, favs)
        sessions = int(rng.integers(1, 12))
        uid, prefix = f"listener-{p:04d}", f"demo-{p}"
        events.extend(listen(rng, library, uid, prefix, f"p{p}", favoured, sessions, now, days))
    events.sort(key=lambda e: e.timestamp or now)
    return events


TOPICS = ["late-night", "road-trip", "focus", "workout", "sleep", "faith", "healing"]
SENSITIVE_TOPICS = {"faith": "religion", "healing": "health"}


def with_topics(library: Library) -> list[Item]:
    """The library's albums with a listening topic on most (deterministic, no randomness drawn).

    Two topics are sensitive (P8): ``topic:faith`` (religion) and ``topic:healing`` (health);
    albums carrying them are marked with that category.
    """
    out = []
    for i, item in enumerate(library.items):
        k = (i * 7 + int(library.item_genre[i]) * 3) % (len(TOPICS) + 2)
        if k >= len(TOPICS):
            out.append(item)
            continue
        topic = TOPICS[k]
        category = SENSITIVE_TOPICS.get(topic)
        out.append(
            item.model_copy(
                update={"tags": [*item.tags, f"topic:{topic}"], "sensitive": [category] if category else []}
            )
        )
    return out
