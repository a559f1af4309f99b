"""One plain autocommit connection per thread for the fixed read every request makes.

A recommendation request reads the store's versions once (the freshness query). Taken
from SQLAlchemy's PostgreSQL pool, that one query costs three round trips: the pool's
liveness ping on checkout (``pool_pre_ping``), the ``SELECT``, and the ``ROLLBACK`` that
resets the connection on checkin (the pool's connections are not autocommit). Here each
thread that asks keeps a DBAPI connection of its own in autocommit mode, so the read is one
round trip; psycopg prepares the statement on the server after a few runs.

Liveness is checked by use instead of by a ping: when the query fails on a connection that
turned out broken (the database restarted, the connection was cut), it is dropped and the
query is tried once more on a new one; if that fails too, the error goes up (the caller
turns it into a ``StorageError``, a 503). A thread's connection is closed when the thread
ends, and every one of them when the store closes (a thread that reads again afterwards
finds its connection closed and opens a new one, as after a pool's ``dispose``). At most
``limit`` threads hold one at a time (the serving lanes' threads, in practice); any further
thread reads through the pool.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Engine


class _Held:
    """A thread's connection; closed when the thread's local storage lets go of it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._finalizer = weakref.finalize(self, _close, conn)

    def close(self) -> None:
        self._finalizer()


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a broken connection
        pass


class ThreadConnections:
    """Per-thread autocommit DBAPI connections made from ``engine``'s URL and dialect."""

    def __init__(self, engine: Engine, limit: int = 8) -> None:
        self.engine = engine
        self.limit = limit
        self._local = threading.local()
        self._held: weakref.WeakSet[_Held] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.opened = 0  # connections made so far (tests, diagnostics)

    def fetchone(self, sql: str, params: Sequence[Any], pooled: Callable[[str, Sequence[Any]], Any]) -> Any:
        """The first row of ``sql`` run with ``params`` on this thread's connection, or through
        ``pooled`` when ``limit`` threads hold one already (a burst of short-lived threads)."""
        error = self.engine.dialect.loaded_dbapi.Error
        for attempt in (1, 2):
            held = self._connection()
            if held is None:
                return pooled(sql, params)
            try:
                cursor = held.conn.cursor()
                try:
                    cursor.execute(sql, params)
                    return cursor.fetchone()
                finally:
                    cursor.close()
            except error:
                broken = bool(getattr(held.conn, "broken", False) or getattr(held.conn, "closed", False))
                self._drop(held)
                if attempt == 2 or not broken:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> _Held | None:
        held: _Held | None = getattr(self._local, "held", None)
        if held is not None:
            return held
        if len(self._held) >= self.limit:
            return None
        dialect = self.engine.dialect
        cargs, cparams = dialect.create_connect_args(self.engine.url)
        conn = dialect.loaded_dbapi.connect(*cargs, **cparams)
        conn.autocommit = True
        held = _Held(conn)
        with self._lock:
            self._held.add(held)
            self.opened += 1
        self._local.held = held
        return held

    def _drop(self, held: _Held) -> None:
        if getattr(self._local, "held", None) is held:
            self._local.held = None
        held.close()

    def close(self) -> None:
        """Close every thread's connection (as a pool's ``dispose``: a later call opens a new one)."""
        with self._lock:
            held = list(self._held)
        for h in held:
            h.close()
