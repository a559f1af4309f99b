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
