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
