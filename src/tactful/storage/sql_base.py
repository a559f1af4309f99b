"""Connection handling shared by every concern of the SQL backend.

SQLite (WAL, autocommit connections with explicit ``BEGIN IMMEDIATE`` for writes) for the
embedded default, PostgreSQL (a connection pool) for production. The concern mixins
(:mod:`~tactful.storage.sql_policy`, :mod:`~tactful.storage.sql_trust`,
:mod:`~tactful.storage.sql_privacy`) and :class:`~tactful.storage.sql.SqlStore` all run
on the engine, transactions and upserts defined here.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    Integer,
    Table,
    create_engine,
    delete,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.pool import NullPool
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from tactful.domain.stats import ItemStat
from tactful.errors import StorageError
from tactful.extras import require
from tactful.storage import schema as t
from tactful.storage.checkpoint import WAL_LIMIT_BYTES, WalCheckpointer
from tactful.storage.hot_reads import ThreadConnections
from tactful.storage.protocol import SchemaState

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = threading.Lock()
CHUNK = 500
BUSY_TIMEOUT_MS = 10_000  # one wait for SQLite's lock (readers and each BEGIN attempt)
SQLITE_CACHE_KIB = 32 * 1024  # page cache per SQLite connection, at most
SQLITE_MMAP_BYTES = 256 * 1024 * 1024  # of the database file mapped for reads
LOCK_WAIT_SECONDS = 120.0  # how long a SQLite writer retries BEGIN IMMEDIATE before giving up
log = logging.getLogger("tactful.storage")
CATALOG_VERSION = "catalog_version"
"""``meta`` key bumped by every change workers must reload the catalog for."""


class SqlBase:
    """The engine, migrations, write transactions and upserts of the SQL backend."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url,
                isolation_level="AUTOCOMMIT",
                connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
                poolclass=NullPool if path == ":memory:" else None,
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        # a file database checkpoints its WAL on a thread of its own (see checkpoint)
        self._checkpointer: WalCheckpointer | None = None
        if self.is_sqlite and path and path != ":memory:" and not path.startswith("file:"):
            self._checkpointer = WalCheckpointer(path.split("?", 1)[0], BUSY_TIMEOUT_MS / 1000)
        else:
            if "+psycopg" in url or url.split(":", 1)[0] in ("postgresql", "postgres"):
                require("psycopg", "postgres", "a PostgreSQL database URL")
            self.engine = create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
        # the per-request freshness read, one round trip (PostgreSQL only: see hot_reads)
        self._hot: ThreadConnections | None = None if self.is_sqlite else ThreadConnections(self.engine)
        self._sqlite_writer = threading.RLock()
        self._upserts: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest version (Alembic)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        # Alembic's context is process-global (one migration per process at a time); across
        # processes, PostgreSQL takes an advisory lock and SQLite the database write lock.
        with _MIGRATION_LOCK, self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("SELECT pg_advisory_lock(72731)")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
            except BaseException:
                if self.is_sqlite:
                    conn.exec_driver_sql("ROLLBACK")
                raise
            finally:
                if not self.is_sqlite:
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(72731)")
            if self.is_sqlite:
                conn.exec_driver_sql("COMMIT")

    @staticmethod
    @functools.cache
    def head_revision() -> str:
        """The newest schema revision this code knows."""
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        return str(head)

    @staticmethod
    @functools.cache
    def revisions() -> tuple[str, ...]:
        """Every schema revision this code knows, oldest first."""
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        return tuple(
            str(s.revision) for s in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))
        )

    def schema_version(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        except ProgrammingError:  # PostgreSQL: no such table (a database never migrated)
            return None
        except OperationalError as exc:
            if "no such table" in str(exc.orig).lower():  # SQLite's word for the same
                return None
            raise StorageError(f"database unavailable: {exc.orig}") from exc
        return None if row is None else str(row[0])

    def schema_state(self) -> SchemaState:
        """Where the database's schema stands against this code's migrations (never changes it)."""
        current = self.schema_version()
        tables: list[str] = []
        if current is None:
            try:
                tables = [n for n in inspect(self.engine).get_table_names() if n != "alembic_version"]
            except OperationalError as exc:
                raise StorageError(f"database unavailable: {exc.orig}") from exc
            if tables:  # a creation that committed between the two reads shows its revision now
                current = self.schema_version()
        return SchemaState(current, self.head_revision(), self.revisions(), bool(tables))

    def close(self) -> None:
        if self._hot is not None:
            self._hot.close()
        if self._checkpointer is not None:
            self._checkpointer.close()
        self.engine.dispose()

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """The one entry point of every write transaction.

        On SQLite, this process's writers take turns on a lock of their own first, so at
        most one thread per process waits for the database's write lock, and a
        ``BEGIN IMMEDIATE`` that times out on it (another process is writing) is retried
        with back-off for up to ``LOCK_WAIT_SECONDS`` instead of failing with "database is
        locked". Nothing has run when ``BEGIN`` fails, so the retry is always safe.
        """
        try:
            if self.is_sqlite:
                with self._sqlite_writer:
                    conn = self._begin_immediate()
                    try:
                        yield conn
                    except BaseException:
                        driver(conn).execute("ROLLBACK")
                        raise
                    else:
                        driver(conn).execute("COMMIT")
                        if self._checkpointer is not None:
                            self._checkpointer.wrote()
                    finally:
                        conn.close()
            else:
                with self.engine.connect() as conn, conn.begin():
                    yield conn
        except OperationalError as exc:
            raise StorageError(f"database unavailable: {exc.orig}") from exc
        except sqlite3.OperationalError as exc:  # from a statement run on the driver itself
            raise StorageError(f"database unavailable: {exc}") from exc

    def _begin_immediate(self) -> Connection:
        for attempt in Retrying(
            stop=stop_after_delay(LOCK_WAIT_SECONDS),
            wait=wait_exponential(multiplier=0.01, max=0.5) + wait_random(0, 0.01),
            retry=retry_if_exception(_is_locked),
            before_sleep=_log_lock_wait,
            reraise=True,
        ):
            with attempt:
                conn = self.engine.connect()
                try:
                    driver(conn).execute("BEGIN IMMEDIATE")
                except BaseException:
                    conn.close()
                    raise
                return conn
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def transaction(self) -> AbstractContextManager[Connection]:
        """One all-or-nothing write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        return self._write()

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read-only connection that sees one consistent state across all its queries."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("BEGIN")
                try:
                    yield conn
                finally:
                    conn.exec_driver_sql("ROLLBACK")
            else:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin() as tx:
                    yield conn
                    tx.rollback()

    # -- shared statements -----------------------------------------------------------------
    def upsert(
        self,
        conn: Connection,
        table: Table,
        rows: list[dict[str, Any]],
        keys: list[str],
        newer: str | None = None,
    ) -> None:
        """Insert-or-update ``rows`` (all with the same columns) in one set-based statement.

        With ``newer`` (a column name), a stored row is replaced only by one whose value in
        that column is at least as large: concurrent writers cannot put an older row back.
        The statement text is built from our own table and column names only, and cached.
        """
        if not rows:
            return
        cols = list(rows[0])
        self.upsert_tuples(conn, table, cols, [tuple(r[c] for c in cols) for r in rows], keys, newer)

    def upsert_tuples(
        self,
        conn: Connection,
        table: Table,
        cols: Sequence[str],
        rows: Sequence[Sequence[Any]],
        keys: Sequence[str],
        newer: str | None = None,
    ) -> None:
        """:meth:`upsert` for rows given as tuples in the order of ``cols``.

        SQLite: one driver-level executemany (in-process, so per-row statements are cheap).
        PostgreSQL: one ``INSERT … SELECT FROM unnest(arrays) ON CONFLICT DO UPDATE``, the
        whole batch in one statement and round trip, when no key repeats (a repeat would
        make PostgreSQL update one row twice in one statement); else an executemany.
        """
        if not rows:
            return
        unnest = not self.is_sqlite and len(rows) > 1 and _unique_keys(cols, rows, keys)
        flags = ((f"newer:{newer}",) if newer else ()) + (("unnest",) if unnest else ())
        cache_key = (table.name, tuple(keys), tuple(cols) + flags)
        sql = self._upserts.get(cache_key)
        if sql is None:
            names = ", ".join(f'"{c}"' for c in cols)
            updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c not in keys)
            conflict = ", ".join(f'"{k}"' for k in keys)
            source = (
                f"SELECT * FROM {unnest_arrays(table, cols)}"
                if unnest
                else f"VALUES ({', '.join(['?' if self.is_sqlite else '%s'] * len(cols))})"
            )
            sql = (
                f'INSERT INTO "{table.name}" ({names}) {source} '
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
            )
            if newer is not None:
                sql += f' WHERE "{table.name}"."{newer}" <= excluded."{newer}"'
            self._upserts[cache_key] = sql
        if unnest:
            conn.exec_driver_sql(sql, array_params(table, cols, rows))
        elif self.is_sqlite:
            driver(conn).executemany(sql, rows)
        else:
            conn.exec_driver_sql(sql, list(rows) if self.is_sqlite else [tuple(r) for r in rows])

    def _bump_meta(self, conn: Connection, key: str) -> int:
        """Add one to the integer ``meta`` value under ``key``, inside the caller's transaction."""
        current = conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar()
        version = int(current or 0) + 1
        self.upsert(conn, t.meta, [{"key": key, "value": str(version)}], ["key"])
        return version

    def _read_meta_int(self, key: str) -> int:
        with self.engine.connect() as conn:
            if self.is_sqlite:
                row = driver(conn).execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
                return int(row[0] or 0) if row is not None else 0
            return int(conn.execute(select(t.meta.c.value).where(t.meta.c.key == key)).scalar() or 0)

    def _bump_catalog(self, conn: Connection) -> None:
        self._bump_meta(conn, CATALOG_VERSION)

    def _load_item_stats(self, conn: Connection, item_ids: Sequence[str]) -> dict[str, ItemStat]:
        """Item counters; on PostgreSQL locked (in id order) until the transaction ends."""
        out: dict[str, ItemStat] = {}
        if not self.is_sqlite and item_ids:  # one query, locking in id order
            sql = (
                "SELECT item_id, interactions, trend, trend_ts FROM item_stats "
                "WHERE item_id = ANY(%b::TEXT[]) ORDER BY item_id FOR UPDATE"
            )
            for r in conn.exec_driver_sql(sql, (sorted(set(item_ids)),)):
                out[r.item_id] = ItemStat(r.item_id, r.interactions, r.trend, r.trend_ts)
            return out
        if self.is_sqlite:
            raw = driver(conn)
            for part in chunks(sorted(set(item_ids))):
                sql = "SELECT item_id, interactions, trend, trend_ts FROM item_stats WHERE item_id IN "
                for r in raw.execute(sql + marks(len(part)), part):
                    out[r[0]] = ItemStat(*r)
            return out
        for part in chunks(sorted(set(item_ids))):
            query = select(t.item_stats).where(t.item_stats.c.item_id.in_(part))
            if not self.is_sqlite:
                query = query.order_by(t.item_stats.c.item_id).with_for_update()
            for r in conn.execute(query):
                out[r.item_id] = ItemStat(r.item_id, r.interactions, r.trend, r.trend_ts)
        return out

    def _save_item_stats(self, conn: Connection, stats: Sequence[ItemStat]) -> None:
        rows = [
            {"item_id": s.item_id, "interactions": s.interactions, "trend": s.trend, "trend_ts": s.trend_ts}
            for s in stats
        ]
        if rows:
            self.upsert(conn, t.item_stats, rows, ["item_id"])

    @staticmethod
    def _delete_item_stats(conn: Connection, item_ids: Sequence[str]) -> None:
        for part in chunks(list(item_ids)):
            conn.execute(delete(t.item_stats).where(t.item_stats.c.item_id.in_(part)))


def _unique_keys(cols: Sequence[str], rows: Sequence[Sequence[Any]], keys: Sequence[str]) -> bool:
    at = [list(cols).index(k) for k in keys]
    if len(at) == 1:
        k = at[0]
        return len({r[k] for r in rows}) == len(rows)
    return len({tuple(r[k] for k in at) for r in rows}) == len(rows)


_ARRAY_TYPES: dict[tuple[str, str], tuple[str, type | None]] = {}


def _array_type(table: Table, col: str) -> tuple[str, type | None]:
    """The PostgreSQL type of a column, and the Python type its values are coerced to."""
    found = _ARRAY_TYPES.get((table.name, col))
    if found is None:
        kind = table.c[col].type
        python: type | None
        if isinstance(kind, Boolean):
            name, python = "BOOLEAN", bool
        elif isinstance(kind, Integer):
            name, python = "BIGINT", int
        elif isinstance(kind, Float):
            name, python = "DOUBLE PRECISION", float
        else:
            name, python = "TEXT", None
        found = _ARRAY_TYPES[(table.name, col)] = (name, python)
    return found


def unnest_arrays(table: Table, cols: Sequence[str]) -> str:
    """``unnest(%b::T[], …) AS v(cols)``: rows given as one array per column (PostgreSQL).

    The arrays go in binary (``%b``): as text, quoting and parsing each value costs several
    times the insert itself.
    """
    casts = ", ".join(f"%b::{_array_type(table, c)[0]}[]" for c in cols)
    return f"unnest({casts}) AS v({', '.join(f'{chr(34)}{c}{chr(34)}' for c in cols)})"


def array_params(table: Table, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[list[Any], ...]:
    """Rows as one list per column for :func:`unnest_arrays`, each value of its column's type
    (a list must hold one type: an int in a float column would otherwise decide it)."""
    out: list[list[Any]] = []
    for n, column in enumerate(zip(*rows, strict=True)):
        python = _array_type(table, cols[n])[1]
        if python is float or python is int:
            out.append([None if v is None else python(v) for v in column])
        elif python is bool:
            out.append([None if v is None else bool(v) for v in column])
        else:
            out.append(list(column))
    return tuple(out)


def driver(conn: Connection) -> Any:
    """The DBAPI connection under ``conn``, inside the same transaction.

    On SQLite the hot statements of ingest run on it directly: in-process, a statement
    costs a few microseconds, and building and compiling a SQLAlchemy construct for it
    costs over ten times as much (about 125 µs against 8 µs measured for a one-row read).
    """
    return conn.connection.driver_connection


@functools.cache
def marks(n: int) -> str:
    """``(?, ?, …)``: ``n`` SQLite parameter marks for an ``IN`` list."""
    return "(" + ", ".join(["?"] * n) + ")"


@functools.cache
def row_type(table: Table) -> tuple[str, Any]:
    """The explicit column list of ``table`` and a named tuple type to read its rows by name."""
    names = [c.name for c in table.c]
    return ", ".join(f'"{n}"' for n in names), namedtuple(f"{table.name}_row", names)  # type: ignore[misc]


def chunks(values: Sequence[str]) -> Iterator[list[str]]:
    """``values`` in lists of at most :data:`CHUNK` (bound-parameter limits)."""
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


def _is_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked" / busy: another process holds the write lock."""
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower()
    elif isinstance(exc, sqlite3.OperationalError):  # BEGIN runs on the driver connection
        text = str(exc).lower()
    else:
        return False
    return "locked" in text or "busy" in text


def _log_lock_wait(state: RetryCallState) -> None:
    if state.attempt_number in (1, 5, 20):
        log.info("SQLite write lock busy for %.1f s; retrying", state.seconds_since_start or 0.0)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    # Ingest writes into large indexes (events, person_items): 32 MiB of page cache per
    # connection, filled only as used, instead of SQLite's 2 MiB, and reads served from a
    # memory map instead of a read() per page.
    cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cur.execute("PRAGMA wal_autocheckpoint=0")  # a thread of the store checkpoints (see checkpoint)
    cur.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
    cur.execute("PRAGMA secure_delete=ON")  # deleted content is zeroed, not left in free space
    cur.close()
