"""The per-request freshness read on PostgreSQL: one round trip on a thread's own autocommit
connection, which survives the database dropping it."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tactful.domain.person import Person
from tactful.errors import StorageError
from tactful.storage.sql import SqlStore

pytestmark = pytest.mark.postgres


def test_freshness_is_one_statement_and_sees_every_commit(pg_store: SqlStore) -> None:
    import psycopg

    sent: list[str] = []
    original = psycopg.Cursor.execute
    rollback = psycopg.Connection.rollback

    def counted(self, query, *a, **k):  # type: ignore[no-untyped-def]
        sent.append(str(query))
        return original(self, query, *a, **k)

    def rolled_back(self):  # type: ignore[no-untyped-def]
        sent.append("ROLLBACK")
        return rollback(self)

    assert pg_store.freshness("ana").person_version is None
    psycopg.Cursor.execute = counted  # type: ignore[method-assign]
    psycopg.Connection.rollback = rolled_back  # type: ignore[method-assign]
    try:
        for _ in range(5):
            pg_store.freshness("ana")
    finally:
        psycopg.Cursor.execute = original  # type: ignore[method-assign]
        psycopg.Connection.rollback = rollback  # type: ignore[method-assign]
    assert len(sent) == 5 and all("persons" in q for q in sent)  # no ping, no rollback
    pg_store.save_person(Person(id="ana"))
    assert pg_store.freshness("ana").person_version is not None  # committed elsewhere: seen


def test_a_dropped_connection_is_replaced_once(pg_store: SqlStore) -> None:
    hot = pg_store._hot
    assert hot is not None
    pg_store.freshness("bo")
    conn = hot._local.held.conn
    pid = conn.info.backend_pid
    with pg_store.engine.connect() as admin:
        admin.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        admin.commit()
    before = hot.opened
    assert pg_store.freshness("bo").person_version is None  # answered on a new connection
    assert hot.opened == before + 1


def test_each_thread_has_its_own_and_close_releases_them(pg_store: SqlStore) -> None:
    hot = pg_store._hot
    assert hot is not None
    pids: set[int] = set()

    def read() -> None:
        pg_store.freshness("cy")
        pids.add(hot._local.held.conn.info.backend_pid)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pids) == 3
    hot.close()
    assert pg_store.freshness("cy").person_version is None  # a closed one is reopened


def test_an_unreachable_database_is_a_storage_error(pg_url: str) -> None:
    from tactful.storage import open_store

    store = open_store(pg_url)
    try:
        store.freshness("dee")
        assert store._hot is not None
        store._hot.engine = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
        store._hot._local.held.close()  # the thread's connection is gone and none can be made
        with pytest.raises(StorageError):
            store.freshness("dee")
    finally:
        store.close()


def test_threads_beyond_the_limit_read_through_the_pool(pg_store: SqlStore) -> None:
    hot = pg_store._hot
    assert hot is not None
    pg_store.freshness("ed")  # this thread holds one
    hot.limit = len(hot._held)
    seen: list[object] = []

    def read() -> None:
        seen.append(pg_store.freshness("ed").person_version)
        seen.append(getattr(hot._local, "held", None))

    t = threading.Thread(target=read)
    t.start()
    t.join()
    assert seen == [None, None]  # answered, without a connection of its own
