"""A batch folds into exactly the state its events give when sent one at a time.

Random event sequences (every built-in kind of item state: likes, dislikes, ratings, saves
and their retractions; plays, views, impressions, item-less searches), out-of-order times,
retried events with the same id, a muted topic and a sensitive item without opt-in, on
SQLite and PostgreSQL: one engine takes the whole sequence as a single batch (or a few),
another takes it event by event. Every person's stored profile (tags, items, traces,
counters), the item aggregates and the event log must come out the same, bit for bit.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful import Engine, Event, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.domain.event import EventContext
from tactful.domain.item import Item
from tactful.storage import SqlStore, Store, schema
from tests.conftest import media_items

USERS = ["ann", "bob"]
SENSITIVE = Item(id="care-0", title="Care", tags=["topic:care", "genre:folk"], sensitive=["health"])
ITEMS = [i.id for i in media_items()[:6]] + [SENSITIVE.id]
KINDS = [
    "like",
    "dislike",
    "retract",
    "rate",
    "save",
    "unsave",
    "dismiss",
    "play",
    "view",
    "impression",
    "skip",
    "complete",
    "search",
]
VALUES: dict[str, float] = {"rate": 4.5, "play": 12.0}
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)

events = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.sampled_from(ITEMS),
        st.sampled_from(KINDS),
        st.integers(-72, 72),  # hours around T0: arrival order is not time order
        st.one_of(st.none(), st.integers(0, 4)),  # an id from a small pool: retries repeat it
        st.sampled_from([None, "s1", "s2"]),
    ),
    min_size=1,
    max_size=40,
)


def _event(user: str, item: str, kind: str, hours: int, key: int | None, session: str | None) -> Event:
    # an id names one event of a person: the same id always carries the same item, type and value
    return Event(
        id=None if key is None else f"{kind}-{item}-{key}",
        user_id=user,
        item_id=None if kind == "search" else item,
        type=kind,
        value=VALUES.get(kind),
        timestamp=T0 + timedelta(hours=hours),
        context=EventContext(session=session, category="genre:jazz" if kind == "search" else None),
    )


def _snapshot(store: Store) -> dict[str, Any]:
    profiles = {}
    for user in USERS:
        p = store.load_profile(user)
        profiles[user] = (p.positive_signals, sorted(p.active_days), p.interests, p.items, p.direct)
    stats = sorted((s.item_id, s.interactions, s.trend, s.trend_ts) for s in store.load_all_item_stats())
    logged = sorted(
        (e.user_id, e.event_id or "", e.item_id or "", e.type, e.ts) for b in store.iter_events() for e in b
    )
    return {"profiles": profiles, "stats": stats, "events": logged}


def _prepare(engine: Engine) -> None:
    engine.upsert_items([*media_items(), SENSITIVE])
    engine.mute_topic("bob", "mood:m1")


def _fold(engine: Engine, sent: list[Event], batches: int) -> tuple[int, int]:
    accepted = duplicates = 0
    if batches == 0:  # one at a time
        parts = [[e] for e in sent]
    else:
        size = -(-len(sent) // batches)
        parts = [sent[k : k + size] for k in range(0, len(sent), size)]
    for part in parts:
        result = engine.ingest(part)
        accepted += result.accepted
        duplicates += result.duplicates
    return accepted, duplicates


@contextmanager
def _sqlite_engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp:
        settings_ = Settings(data_dir=Path(tmp), auth=AuthSettings(enabled=False))
        with Engine(settings_, clock=ManualClock(T0 + timedelta(days=5))) as engine:
            yield engine


@given(plan=events, batches=st.integers(1, 3))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_batch_equals_its_events_one_at_a_time_on_sqlite(plan: list[tuple], batches: int) -> None:
    sent = [_event(*row) for row in plan]
    with _sqlite_engine() as whole, _sqlite_engine() as single:
        _prepare(whole)
        _prepare(single)
        assert _fold(whole, sent, batches) == _fold(single, sent, 0)
        assert _snapshot(whole.store) == _snapshot(single.store)


@pytest.fixture
def pg_engine_factory(pg_url: str) -> Iterator[Any]:
    opened: list[Engine] = []

    def fresh() -> Engine:
        for engine in opened:
            engine.close()
        opened.clear()
        store = SqlStore(pg_url)
        with store.engine.begin() as conn:  # every table: each example starts empty
            conn.exec_driver_sql(f"TRUNCATE {', '.join(schema.metadata.tables)} RESTART IDENTITY")
        settings_ = Settings(data_dir=Path(tempfile.mkdtemp()), auth=AuthSettings(enabled=False))
        engine = Engine(settings_, store=store, clock=ManualClock(T0 + timedelta(days=5)))
        opened.append(engine)
        return engine

    yield fresh
    for engine in opened:
        engine.close()


@given(plan=events, batches=st.integers(1, 3))
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_a_batch_equals_its_events_one_at_a_time_on_postgres(
    pg_engine_factory: Any, plan: list[tuple], batches: int
) -> None:
    sent = [_event(*row) for row in plan]
    whole = pg_engine_factory()
    _prepare(whole)
    whole_counts = _fold(whole, sent, batches)
    want = _snapshot(whole.store)
    single = pg_engine_factory()  # the same database, emptied
    _prepare(single)
    assert _fold(single, sent, 0) == whole_counts
    assert _snapshot(single.store) == want


def test_a_large_batch_with_repeats_and_conflicting_times_matches_single_events() -> None:
    """A deterministic large case: 3,000 events over few items, so every state is rewritten often."""
    kinds = ["like", "dislike", "retract", "rate", "save", "unsave", "play", "view", "impression"]
    sent = [
        _event(
            USERS[n % 2],
            ITEMS[(n * 7) % len(ITEMS)],
            kinds[(n * 5) % len(kinds)],
            (n * 37) % 145 - 72,
            None,
            None,
        )
        for n in range(3000)
    ]
    sent += sent[::10]  # ids are None: re-sent events count again, as they would one at a time
    with _sqlite_engine() as whole, _sqlite_engine() as single:
        _prepare(whole)
        _prepare(single)
        assert _fold(whole, sent, 1) == _fold(single, sent, 0)
        assert _snapshot(whole.store) == _snapshot(single.store)
