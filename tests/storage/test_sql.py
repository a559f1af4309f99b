from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tactful import Engine, Event, Item, ManualClock, Settings
from tactful.storage import SqlStore, open_store


def test_sqlite_uses_wal_and_versioned_schema(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/t.sqlite3")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert store.schema_version() == SqlStore.head_revision()
    store.migrate()  # idempotent
    assert store.schema_version() == SqlStore.head_revision()


def _roundtrip(store: SqlStore) -> None:
    clock = ManualClock(datetime(2026, 5, 1, tzinfo=UTC))
    with Engine(Settings(), store=store, clock=clock) as engine:
        engine.upsert_items(
            [Item(id="a", title="A", tags=["genre:x", "creator:y"]), Item(id="b", tags=["genre:x"])]
        )
        engine.ingest(
            [
                Event(id="e1", user_id="u", item_id="a", type="like"),
                Event(id="e2", user_id="u", item_id="b", type="dislike"),
            ]
        )
        assert engine.ingest([Event(id="e1", user_id="u", item_id="a", type="like")]).duplicates == 1
        profile = store.load_profile("u")
        assert profile.hard_negatives() == {"b"} and profile.positive_signals == 1
        assert set(profile.interests) == {"genre:x", "creator:y"}
        assert store.get_item("a").tags == ["genre:x", "creator:y"]
        assert store.delete_items(["a"]) == 1 and store.get_item("a") is None
        assert [e.event_id for batch in store.iter_events() for e in batch] == ["e1", "e2"]


def test_sqlite_roundtrip(tmp_path) -> None:
    _roundtrip(open_store(f"sqlite:///{tmp_path}/r.sqlite3"))


@pytest.mark.postgres
def test_postgres_roundtrip(pg_store: SqlStore) -> None:
    assert pg_store.schema_version() == SqlStore.head_revision()
    _roundtrip(pg_store)
