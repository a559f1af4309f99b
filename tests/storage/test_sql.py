"""What only the SQL backend promises (the shared behaviour is in test_contract.py)."""

from __future__ import annotations

import pytest

from tactful.storage import SqlStore


def test_sqlite_uses_wal_and_versioned_schema(tmp_path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/t.sqlite3")
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert store.schema_version() == SqlStore.head_revision()
    store.migrate()  # idempotent
    assert store.schema_version() == SqlStore.head_revision()
    store.close()


def test_sqlite_wal_checkpoints_run_on_a_thread_of_the_store_not_in_commits(tmp_path) -> None:
    """Request connections never checkpoint (a commit that did paid ~30 ms of copying and
    fsyncs); the store's own thread copies the log back soon after writes, and on close."""
    import time

    from tactful.domain.item import Item

    path = tmp_path / "t.sqlite3"
    store = SqlStore(f"sqlite:///{path}")
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    checkpointer = store._checkpointer
    assert checkpointer is not None
    done = checkpointer.checkpoints
    items = [Item(id=f"i{n}", title="x" * 200, tags=[f"genre:t{n % 50}"]) for n in range(20_000)]
    store.upsert_items(items, time.time())  # several MiB of log, more than 1,000 pages
    assert path.stat().st_size < 20_000 * 200  # the commit itself left its pages in the log
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == done and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpointer.checkpoints > done
    # the pages are in the database file itself now, not only in the log
    assert path.stat().st_size > 20_000 * 200
    store.close()
    assert not checkpointer._thread.is_alive()


@pytest.mark.postgres
def test_postgres_schema_is_at_head(pg_store: SqlStore) -> None:
    assert pg_store.schema_version() == SqlStore.head_revision()


def _upgrade(store: SqlStore, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from tactful.storage.sql_base import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_migration_to_person_scoped_event_ids_keeps_the_events(
    backend: str, tmp_path, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
        scratch = SqlStore(url)
        with scratch.engine.begin() as conn:  # an empty schema, so the old revision can be built
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    else:
        scratch = SqlStore(f"sqlite:///{tmp_path}/old.sqlite3")
    try:
        _upgrade(scratch, "0004")
        insert = (
            "INSERT INTO events (event_id, user_id, type, ts, provenance) "
            "VALUES ('e1', '{}', 'click', 1, 'observed')"
        )
        with scratch.engine.begin() as conn:
            conn.exec_driver_sql(insert.format("ann"))
            with pytest.raises(Exception):  # noqa: B017 - the old key: one id for everybody
                with conn.begin_nested():
                    conn.exec_driver_sql(insert.format("bob"))
        scratch.migrate()
        assert scratch.schema_version() == SqlStore.head_revision()
        with scratch.engine.begin() as conn:
            conn.exec_driver_sql(insert.format("bob"))  # the new key: ids are per person
            with pytest.raises(Exception):  # noqa: B017
                with conn.begin_nested():
                    conn.exec_driver_sql(insert.format("bob"))
        assert scratch.count("events") == 2
        assert scratch.count("erasures") == 0
    finally:
        scratch.close()
