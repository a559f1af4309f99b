"""Idempotent ingest under concurrency, and event ids scoped to their person.

The concurrent tests run real transactions at once: several engines (each with its own
connection pool, as several workers would have) on one database, posting the same batch
from many threads released together. On PostgreSQL this used to end in ``UniqueViolation``
(a 500) for all but one of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tactful import Engine, Event, ManualClock, Settings
from tactful.api.app import create_app
from tactful.config.security import AuthSettings
from tactful.errors import Conflict
from tests.conftest import media_items

THREADS = 6


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engines(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[list[Engine]]:
    """Three engines on one fresh database."""
    if request.param == "postgres":
        store = request.getfixturevalue("pg_store")  # truncates every table
        url = str(store.engine.url.render_as_string(hide_password=False))
        store.close()
    else:
        url = f"sqlite:///{tmp_path}/shared.sqlite3"
    made = [
        Engine(
            Settings(data_dir=tmp_path / f"data{n}", database_url=url, auth=AuthSettings(enabled=False)),
            clock=clock,
        )
        for n in range(3)
    ]
    made[0].upsert_items(media_items())
    try:
        yield made
    finally:
        for eng in made:
            eng.close()


def _at_once(work: Callable[[int], Any], n: int = THREADS) -> list[Any]:
    """Run ``work(i)`` on ``n`` threads released together; results (or the exception) per thread."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = work(i)
        except Exception as exc:  # recorded: the assertion names it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return out


def _count_events(engine: Engine) -> int:
    return engine.store.count("events")


def test_the_same_batch_posted_at_once_is_stored_once(engines: list[Engine]) -> None:
    batch = [
        Event(id=f"retry-{n}", user_id=f"u{n % 3}", item_id=item.id, type="like")
        for n, item in enumerate(media_items()[:8])
    ]
    for round_ in range(3):
        results = _at_once(lambda i: engines[i % len(engines)].ingest(batch))
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, errors
        assert sum(r.accepted for r in results) == (len(batch) if round_ == 0 else 0)
        assert all(r.accepted + r.duplicates == len(batch) for r in results)
    assert _count_events(engines[0]) == len(batch)
    # and the profile counted each like once
    profile = engines[0].store.load_profile("u0")
    assert profile.positive_signals == sum(1 for e in batch if e.user_id == "u0")


def test_single_posts_of_one_id_at_once_over_http_never_5xx(engines: list[Engine]) -> None:
    clients = [TestClient(create_app(eng)) for eng in engines]
    item = media_items()[0].id
    statuses: list[int] = []
    for n in range(10):
        event = {"id": f"one-{n}", "user_id": "ann", "item_id": item, "type": "click"}
        results = _at_once(lambda i, body=event: clients[i % len(clients)].post("/v1/events", json=body), 4)
        statuses += [r.status_code for r in results]
        assert sum(r.json()["accepted"] for r in results) == 1, [r.json() for r in results]
    assert set(statuses) == {200}
    assert _count_events(engines[0]) == 10


def test_event_ids_belong_to_their_person(engines: list[Engine]) -> None:
    engine = engines[0]
    items = media_items()
    assert engine.ingest([Event(id="e-1", user_id="alice", item_id=items[0].id, type="like")]).accepted == 1
    # Bob's dislike with the id Alice used is Bob's own event, not a duplicate of hers
    bob = engine.ingest([Event(id="e-1", user_id="bob", item_id=items[1].id, type="dislike")])
    assert (bob.accepted, bob.duplicates) == (1, 0)
    assert items[1].id in engine.store.load_profile("bob").items
    # a retry of either is a duplicate, on any worker
    again = engines[1].ingest([Event(id="e-1", user_id="bob", item_id=items[1].id, type="dislike")])
    assert (again.accepted, again.duplicates) == (0, 1)
    assert _count_events(engine) == 2


def test_a_reused_id_with_other_content_is_a_conflict_and_changes_nothing(engines: list[Engine]) -> None:
    engine = engines[0]
    items = media_items()
    engine.ingest([Event(id="e-1", user_id="alice", item_id=items[0].id, type="like")])
    before = engine.store.load_profile("alice")
    for other in (
        Event(id="e-1", user_id="alice", item_id=items[0].id, type="dislike"),
        Event(id="e-1", user_id="alice", item_id=items[1].id, type="like"),
        Event(id="e-1", user_id="alice", item_id=items[0].id, type="like", value=2.0),
    ):
        fresh = Event(id="e-2", user_id="alice", item_id=items[2].id, type="like")
        with pytest.raises(Conflict) as caught:
            engine.ingest([fresh, other])
        assert caught.value.field == "events[1].id"
    # the same id twice in one batch with different content is a conflict too
    with pytest.raises(Conflict) as caught:
        engine.ingest(
            [
                Event(id="e-3", user_id="alice", item_id=items[2].id, type="like"),
                Event(id="e-3", user_id="alice", item_id=items[2].id, type="dislike"),
            ]
        )
    assert caught.value.field == "events[1].id"
    assert _count_events(engine) == 1
    assert engine.store.load_profile("alice") == before


def test_a_conflicting_id_is_a_409_over_http(engines: list[Engine]) -> None:
    client = TestClient(create_app(engines[0]))
    item = media_items()[0].id
    first = {"id": "e-9", "user_id": "ann", "item_id": item, "type": "like"}
    assert client.post("/v1/events", json=first).status_code == 200
    resp = client.post("/v1/events", json={**first, "type": "dislike"})
    assert resp.status_code == 409
    assert resp.json()["error"]["code"] == "conflict" and resp.json()["error"]["field"] == "event.id"
    assert client.post("/v1/events", json=first).json() == {"accepted": 0, "duplicates": 1}

