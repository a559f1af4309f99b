"""PostgreSQL's COPY write path: rows copied straight in only when no one else can write them,
merges that keep to their own rows, and concurrent batches from several workers."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful import Engine, Event, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.domain.person import Person
from tactful.domain.stats import ItemStat
from tactful.errors import StorageError
from tactful.signals.profile import DecayedScores, ItemState, TagInterest
from tactful.storage import SqlStore, Store, pg_copy
from tactful.storage import schema as t
from tests.conftest import media_items

pytestmark = pytest.mark.postgres

T0 = 1_780_000_000.0


def interest(score: float) -> TagInterest:
    return TagInterest(scores=DecayedScores({"observed": [score, T0]}), evidence=["d:1"], last_positive=T0)


def stored_interests(store: SqlStore, user_id: str) -> dict[str, float]:
    return {tag: i.scores.parts["observed"][0] for tag, i in store.load_profile(user_id).interests.items()}


def test_missing_rows_are_copied_in_and_the_others_merged(pg_store: SqlStore) -> None:
    with pg_store.unit_of_work() as uow:
        uow.create_persons([Person(id="ann")], T0)
        uow.load_persons(["ann"])
        p = uow.load_profile_rows({"ann": ({"jazz"}, set())})["ann"]
        p.interests["jazz"] = interest(1.0)
        p.dirty_tags.add("jazz")
        uow.save_profiles([p])
    with pg_store.unit_of_work() as uow:
        uow.load_persons(["ann"])
        # jazz is stored (merged), rock was looked up and is missing (copied), folk was never
        # looked up (merged: nothing says it is missing)
        p = uow.load_profile_rows({"ann": ({"jazz", "rock"}, {"a"})})["ann"]
        assert set(p.interests) == {"jazz"}
        for tag, score in (("jazz", 2.0), ("rock", 3.0), ("folk", 4.0)):
            p.interests[tag] = interest(score)
            p.dirty_tags.add(tag)
        p.items["a"] = ItemState(consumed=True)
        p.dirty_items.add("a")
        uow.save_profiles([p])
        # written again in the same transaction: rock is stored now, so it merges (no key error)
        p.interests["rock"] = interest(5.0)
        p.dirty_tags.add("rock")
        uow.save_profiles([p])
    assert stored_interests(pg_store, "ann") == {"jazz": 2.0, "rock": 5.0, "folk": 4.0}
    assert pg_store.load_profile("ann").items["a"].consumed


def test_nothing_is_copied_straight_in_for_a_person_not_locked(pg_store: SqlStore) -> None:
    with pg_store.unit_of_work() as uow:
        uow.create_persons([Person(id="ann")], T0)
        p = uow.load_profile_rows({"ann": ({"jazz"}, set())})["ann"]
        p.interests["jazz"] = interest(1.0)
        p.dirty_tags.add("jazz")
        uow.save_profiles([p])
    absent = pg_copy.Absent()
    absent.saw_rows("interests", "bob", ["jazz"], [])  # bob was never locked
    assert not absent.new_row("interests", "bob", "jazz")
    absent.lock(["bob"])
    absent.saw_rows("interests", "bob", ["jazz", "rock"], ["rock"])
    assert absent.new_row("interests", "bob", "jazz")
    assert not absent.new_row("interests", "bob", "jazz")  # once: it is written now
    assert not absent.new_row("interests", "bob", "rock")
    assert stored_interests(pg_store, "ann") == {"jazz": 1.0}


def test_events_seen_missing_are_copied_and_a_repeat_in_the_transaction_is_skipped(
    pg_store: SqlStore,
) -> None:
    events = [Event(id=f"e{n}", user_id="ann", item_id=None, type="search") for n in range(5)]
    with pg_store.unit_of_work() as uow:
        uow.create_persons([Person(id="ann")], T0)
        uow.load_persons(["ann"])
        assert uow.known_events([("ann", f"e{n}") for n in range(5)]) == {}
        assert uow.write_events(events) == 5
        assert uow.write_events(events[:2]) == 0  # stored by this transaction: merged, skipped
        assert uow.write_events([*events[3:], Event(user_id="ann", type="search")]) == 1
    stored = [e.event_id for batch in pg_store.iter_events() for e in batch]
    assert stored == ["e0", "e1", "e2", "e3", "e4", None]  # seq keeps the order they came in


def test_a_copy_that_meets_a_stored_key_fails_the_transaction(pg_store: SqlStore) -> None:
    with pg_store.unit_of_work() as uow:
        uow.create_persons([Person(id="ann")], T0)
        uow.write_events([Event(id="e1", user_id="ann", item_id=None, type="search")])
    with pytest.raises(StorageError), pg_store.unit_of_work() as uow:
        pg_copy.copy_into(
            uow.conn,
            t.events,
            ["event_id", "user_id", "type", "ts", "provenance"],
            [("e1", "ann", "search", T0, "observed")],
        )
    assert pg_store.count("events") == 1


def test_two_merges_into_one_table_in_one_transaction_keep_to_their_rows(pg_store: SqlStore) -> None:
    cols = ["item_id", "interactions", "trend", "trend_ts"]
    with pg_store.transaction() as conn:
        assert (
            pg_copy.merge(conn, t.item_stats, cols, [("a", 1.0, 1.0, T0), ("b", 2.0, 2.0, T0)], ["item_id"])
            == 2
        )
        assert pg_copy.merge(conn, t.item_stats, cols, [("a", 5.0, 5.0, T0)], ["item_id"]) == 1
    stats = {s.item_id: s.interactions for s in pg_store.load_all_item_stats()}
    assert stats == {"a": 5.0, "b": 2.0}


def test_a_rolled_back_merge_leaves_nothing_behind(pg_url: str, pg_store: SqlStore) -> None:
    cols = ["item_id", "interactions", "trend", "trend_ts"]
    store = SqlStore(pg_url)  # a new pool: its first merge creates the staging table, then rolls back
    try:
        with pytest.raises(RuntimeError), store.transaction() as conn:
            pg_copy.merge(conn, t.item_stats, cols, [("x", 1.0, 1.0, T0)], ["item_id"])
            raise RuntimeError("abort")
        with store.transaction() as conn:
            assert pg_copy.merge(conn, t.item_stats, cols, [("y", 1.0, 1.0, T0)], ["item_id"]) == 1
        with store.unit_of_work() as uow:
            uow.save_item_stats([ItemStat("y", 2.0, 2.0, T0), ItemStat("z", 1.0, 1.0, T0)])
    finally:
        store.close()
    assert {s.item_id: s.interactions for s in pg_store.load_all_item_stats()} == {"y": 2.0, "z": 1.0}


@pytest.fixture
def two_workers(pg_store: SqlStore) -> Iterator[list[Engine]]:
    """Two engines (two pools, as two worker processes would have) on one database."""
    url = str(pg_store.engine.url.render_as_string(hide_password=False))
    made = [
        Engine(
            Settings(data_dir=Path(tempfile.mkdtemp()), database_url=url, auth=AuthSettings(enabled=False)),
            clock=ManualClock(datetime.fromtimestamp(T0, UTC)),
        )
        for _ in range(2)
    ]
    made[0].upsert_items(media_items())
    try:
        yield made
    finally:
        for engine in made:
            engine.close()


def test_concurrent_batches_on_the_same_people_and_items_lose_no_update(two_workers: list[Engine]) -> None:
    items = [i.id for i in media_items()]
    users = ["ann", "bob", "cy"]
    rounds = 6
    batches = [
        [
            Event(
                id=f"w{w}-r{r}-{n}",
                user_id=users[n % 3],
                item_id=items[(n * 5 + r) % len(items)],
                type="like",
            )
            for n in range(60)
        ]
        for w in range(2)
        for r in range(rounds)
    ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def work(w: int) -> None:
        barrier.wait()
        for r in range(rounds):
            try:
                two_workers[w].ingest(batches[w * rounds + r])
            except BaseException as exc:  # recorded: the assertion names it
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    # the same batches one after the other, on SQLite: what no lost update leaves
    with Engine(
        Settings(data_dir=Path(tempfile.mkdtemp()), auth=AuthSettings(enabled=False)),
        clock=ManualClock(datetime.fromtimestamp(T0, UTC)),
    ) as serial:
        serial.upsert_items(media_items())
        for batch in batches:
            serial.ingest(batch)
        assert _counters(two_workers[0].store, users) == _counters(serial.store, users)
    assert two_workers[0].store.count("events") == sum(len(b) for b in batches)


def _counters(store: Store, users: list[str]) -> tuple[dict[str, int], dict[str, float], dict[str, set[str]]]:
    """What concurrent batches must add up exactly: positive signals, item interactions, item rows."""
    profiles = {u: store.load_profile(u) for u in users}
    return (
        {u: p.positive_signals for u, p in profiles.items()},
        {s.item_id: s.interactions for s in store.load_all_item_stats() if s.interactions},
        {u: set(p.items) for u, p in profiles.items()},
    )
