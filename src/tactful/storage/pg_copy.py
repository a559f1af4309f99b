"""PostgreSQL bulk writes through binary ``COPY``.

A batch's rows (events, interests, person items, item counters) reach PostgreSQL through
``COPY … FROM STDIN (FORMAT BINARY)``: psycopg formats each row in C and the server reads
binary values, where unnest arrays cost several times the client CPU (their dumpers run in
Python, value by value) and ``INSERT … ON CONFLICT`` costs the server a speculative
insertion per row. Two ways in:

- :func:`copy_into`: straight into the table, for rows known to be new (the caller holds
  the lock that keeps anyone else from inserting them: see ``SqlUnitOfWork``). A plain
  ``COPY`` costs the server about a third of an upsert of the same rows.
- :func:`merge`: into a temporary staging table of this session (one per target table,
  created on first use, ``ON COMMIT DELETE ROWS``: private to the session and emptied by
  each commit), then one ``INSERT … SELECT … ON CONFLICT`` into the real table, with the
  conflict rules the one-statement writes had. Each merge tags its rows with a number of
  its own, so two merges into one table in one transaction never see each other's rows.

The staging tables have the target's column types (``CREATE TABLE … AS SELECT … WITH NO
DATA``), and both ways send each value in its column's binary format, looked up in the
catalog once per connection. So a value must already have its column's Python type:
``int`` for an integer column (a float raises ``TypeError`` before anything is sent),
``float`` or ``int`` for a float, anything truthy for a boolean, ``str`` for text (the
ingest writers build their rows so).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

from tactful.errors import StorageError

TAG = "_tactful_merge"
"""The staging tables' extra column: which merge a row belongs to."""
_INFO = "tactful_copy_columns"  # key of the per-connection catalog cache in the pool's info dict
_merges = itertools.count(1)
_STATEMENTS: dict[tuple[Any, ...], str] = {}


def columns(conn: Connection, table: Table) -> dict[str, int]:
    """``table``'s columns and their type OIDs, from the catalog (cached per connection)."""
    cache = conn.connection.info.setdefault(_INFO, {})
    found: dict[str, int] | None = cache.get(table.name)
    if found is None:
        rows = conn.exec_driver_sql(
            "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (f'"{table.name}"',),
        )
        found = cache[table.name] = {str(name): int(oid) for name, oid in rows}
    return found


def _copy(
    conn: Connection, target: str, cols: Sequence[str], types: Sequence[int], rows: Iterable[Any]
) -> None:
    raw: Any = conn.connection.dbapi_connection  # a psycopg 3 connection (the postgres extra)
    names = ", ".join(f'"{c}"' for c in cols)
    with raw.cursor() as cur, cur.copy(f'COPY "{target}" ({names}) FROM STDIN (FORMAT BINARY)') as copy:
        copy.set_types(types)
        write = copy.write_row
        for row in rows:
            write(row)


def copy_into(conn: Connection, table: Table, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Binary-``COPY`` ``rows`` (tuples in ``cols`` order) straight into ``table``, in order.

    For rows no one else can be inserting: a key that is there after all fails the whole
    transaction (a :class:`StorageError`), it is never skipped or merged.
    """
    from psycopg.errors import UniqueViolation

    types = columns(conn, table)
    try:
        _copy(conn, table.name, cols, [types[c] for c in cols], rows)
    except UniqueViolation as exc:
        raise StorageError(f"a concurrent write stored some of these {table.name} rows first; retry") from exc


def stage(conn: Connection, table: Table) -> str:
    """This session's staging table for ``table`` (created if missing); returns its name.

    Every column of ``table`` with its type, nullable, and :data:`TAG`. The name carries
    a digest of the columns, so a session that outlives a schema change never writes into
    a staging table of the old shape.
    """
    types = columns(conn, table)
    digest = hashlib.sha1(repr(sorted(types.items())).encode()).hexdigest()[:10]
    name = f"tactful_stage_{table.name}_{digest}"
    conn.exec_driver_sql(
        f'CREATE TEMP TABLE IF NOT EXISTS "{name}" ON COMMIT DELETE ROWS AS '
        f'SELECT *, 0::BIGINT AS "{TAG}" FROM "{table.name}" WITH NO DATA'
    )
    return name


def merge(
    conn: Connection,
    table: Table,
    cols: Sequence[str],
    rows: Iterable[Sequence[Any]],
    keys: Sequence[str],
    *,
    update: bool = True,
    newer: str | None = None,
    ordered: bool = False,
) -> int:
    """Write ``rows`` into ``table`` through its staging table; returns the rows written.

    ``update``: a row whose ``keys`` are stored replaces the stored one (``DO UPDATE``; the
    rows' keys must then be unique, as in any one ``ON CONFLICT DO UPDATE``), else it is
    skipped (``DO NOTHING``). ``newer`` (a column): a stored row is replaced only by one at
    least as large in that column. ``ordered``: rows are inserted in the order given (so
    serial defaults follow it).
    """
    name = stage(conn, table)
    types = columns(conn, table)
    tag = next(_merges)
    _copy(conn, name, [*cols, TAG], [*(types[c] for c in cols), 20], ((*r, tag) for r in rows))
    cache_key = (name, tuple(cols), tuple(keys), update, newer, ordered)
    sql = _STATEMENTS.get(cache_key)
    if sql is None:
        names = ", ".join(f'"{c}"' for c in cols)
        conflict = ", ".join(f'"{k}"' for k in keys)
        # ctid order is the order COPY wrote the rows in: the staging heap is private to
        # the session, emptied by each commit and never vacuumed, so it only grows at its end
        sql = (
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{name}" WHERE "{TAG}" = %s'
            + (" ORDER BY ctid" if ordered else "")
            + f" ON CONFLICT ({conflict}) "
        )
        if update:
            updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c not in keys)
            sql += f"DO UPDATE SET {updates}"
            if newer is not None:
                sql += f' WHERE "{table.name}"."{newer}" <= excluded."{newer}"'
        else:
            sql += "DO NOTHING"
        _STATEMENTS[cache_key] = sql
    return int(conn.exec_driver_sql(sql, (tag,)).rowcount)


class Absent:
    """Keys one transaction saw missing while it held what keeps them missing.

    Every writer of a person's events, interests and item rows first locks that person's
    ``persons`` row (``SELECT … FOR UPDATE``, see ``load_persons``), and deleting a row
    never makes an insert conflict. So a key this transaction looked up and did not find,
    *after* locking its person, is still missing when the transaction writes: its row can
    be copied straight in (:func:`copy_into`) instead of merged. Everything else (a person
    not locked here, a key never looked up, one already written) goes through
    :func:`merge`.
    """

    def __init__(self) -> None:
        self.locked: set[str] = set()
        self.events: set[tuple[str, str]] = set()
        # (table, user) -> the keys seen missing, or (for a whole profile read) the keys present
        self.missing: dict[tuple[str, str], set[str]] = {}
        self.present: dict[tuple[str, str], set[str]] = {}

    def lock(self, users: Iterable[str]) -> None:
        self.locked.update(users)

    def saw_events(self, asked: Iterable[tuple[str, str]], found: Iterable[tuple[str, str]]) -> None:
        """``known_events`` asked for ``asked`` and found ``found``."""
        locked = self.locked
        self.events.update(k for k in asked if k[0] in locked)
        self.events.difference_update(found)

    def saw_rows(self, table: str, user: str, asked: Iterable[str], found: Iterable[str]) -> None:
        """Of ``user``'s rows of ``table``, those keyed ``asked`` were read; ``found`` exist."""
        if user in self.locked:
            gone = self.missing.setdefault((table, user), set())
            gone.update(asked)
            gone.difference_update(found)

    def saw_all_rows(self, table: str, user: str, found: Iterable[str]) -> None:
        """Every row of ``user`` in ``table`` was read: ``found`` are all there are."""
        if user in self.locked:
            self.present[(table, user)] = set(found)
            self.missing.pop((table, user), None)

    def new_event(self, user: str, event_id: str | None) -> bool:
        """Whether this event can be copied in (an id-less event never conflicts)."""
        if event_id is None:
            return True
        key = (user, event_id)
        if key in self.events:
            self.events.discard(key)  # written now: a second write of it must merge
            return True
        return False

    def new_row(self, table: str, user: str, key: str) -> bool:
        """Whether ``user``'s row ``key`` of ``table`` is known missing (then it is marked
        written: a second write of it in this transaction merges)."""
        gone = self.missing.get((table, user))
        if gone is not None and key in gone:
            gone.discard(key)
            return True
        present = self.present.get((table, user))
        if present is not None and key not in present:
            present.add(key)
            return True
        return False
