"""The SQL backend's :class:`~tactful.storage.protocol.PrivacyStore`: export snapshots,
the erasure transaction and retention."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, Connection, Table, Text, delete, func, select
from sqlalchemy.exc import OperationalError

from tactful.domain.stats import ItemStat
from tactful.storage import schema as t
from tactful.storage.protocol import AuditRecord, DroppedEvents, ErasureCheck, StoredEvent
from tactful.storage.sql_base import SqlBase
from tactful.storage.sql_trust import insert_audit

ERASURE_SEQ = "erasure_seq"
"""``meta`` key counting erasures, so a training run can tell that one committed while it ran."""
SCRUB_ATTEMPTS = 5
log = logging.getLogger("tactful.storage")
RETENTION_BATCH = 20_000
"""Events deleted per retention transaction (short transactions keep ingest flowing)."""

ERASURE_LOCK = 72732
"""PostgreSQL advisory lock: erasures take it exclusively, checked buffered writes shared."""


def erased_after(
    conn: Connection, is_sqlite: bool, check: ErasureCheck | None, produced: Sequence[tuple[str, float]]
) -> set[tuple[str, float]]:
    """Which ``(user_id, at)`` rows of a checked write belong to a person erased at or after
    ``at - margin``. Call it inside the write transaction, before writing.

    On PostgreSQL this takes the shared erasure lock first, so an erasure either committed
    before (its tombstone is visible now) or starts after this transaction commits (and
    then deletes what it wrote). SQLite write transactions are serial already.
    """
    if check is None or not produced:
        return set()
    if not is_sqlite:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({ERASURE_LOCK})")
    subjects = sorted({check.subjects[user] for user, _ in produced})
    erased: dict[str, float] = {}
    cols = t.erasures.c
    for start in range(0, len(subjects), 1000):
        part = subjects[start : start + 1000]
        query = select(cols.subject, cols.erased_at).where(cols.subject.in_(part))
        erased.update((r.subject, r.erased_at) for r in conn.execute(query))
    if not erased:
        return set()
    out: set[tuple[str, float]] = set()
    for user, at in produced:
        when = erased.get(check.subjects[user])
        if when is not None and at <= when + check.margin:
            out.add((user, at))
    return out


def person_tables() -> list[Table]:
    """The tables listed in ``schema.PERSON_TABLES``, in that order."""
    return [t.metadata.tables[name] for name in t.PERSON_TABLES]


def person_column(table: Table) -> Column[Any]:
    """The column holding the person's id: ``user_id``, or ``id`` for ``persons``."""
    if "user_id" in table.c:
        return table.c.user_id
    if table.name == "persons":
        return table.c.id
    raise KeyError(f"table {table.name} has no person column")


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, str) and isinstance(table.c[key].type, Text) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


class SqlErasure:
    """One person's erasure, inside one write transaction of :class:`SqlPrivacy`."""

    def __init__(self, conn: Connection, store: SqlBase, user_id: str) -> None:
        self.conn = conn
        self.store = store
        self.user_id = user_id

    def events(self) -> list[StoredEvent]:
        ev = t.events.c
        query = (
            select(ev.seq, ev.event_id, ev.user_id, ev.item_id, ev.type, ev.value, ev.ts, ev.provenance)
            .where(ev.user_id == self.user_id)
            .order_by(ev.seq)
        )
        return [StoredEvent(*r) for r in self.conn.execute(query)]

    def lock_item_stats(self, item_ids: Sequence[str]) -> dict[str, ItemStat]:
        return self.store._load_item_stats(self.conn, item_ids)

    def save_item_stats(self, stats: Sequence[ItemStat]) -> None:
        self.store._save_item_stats(self.conn, stats)

    def delete_item_stats(self, item_ids: Sequence[str]) -> None:
        self.store._delete_item_stats(self.conn, item_ids)

    def erase_person_rows(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        for table in reversed(person_tables()):
            done = self.conn.execute(delete(table).where(person_column(table) == self.user_id))
            rows[table.name] = done.rowcount
        return rows

    def bump_catalog_version(self) -> None:
        self.store._bump_catalog(self.conn)

    def count_erasure(self) -> None:
        self.store._bump_meta(self.conn, ERASURE_SEQ)

    def append_audit(self, record: AuditRecord) -> None:
        insert_audit(self.conn, record)

    def add_tombstone(self, subject: str, erased_at: float, forget_before: float) -> None:
        self.conn.execute(delete(t.erasures).where(t.erasures.c.erased_at < forget_before))
        row = {"subject": subject, "erased_at": erased_at}
        self.store.upsert(self.conn, t.erasures, [row], ["subject"])


class SqlPrivacy(SqlBase):
    """Export, erasure and retention over the person tables (``schema.PERSON_TABLES``)."""

    def person_tables(self) -> tuple[str, ...]:
        return tuple(t.PERSON_TABLES)

    def person_rows(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        tables: dict[str, list[dict[str, Any]]] = {}
        with self._snapshot() as conn:
            for table in person_tables():
                query = select(table).where(person_column(table) == user_id)
                pk = list(table.primary_key.columns)
                if pk:
                    query = query.order_by(*pk)
                tables[table.name] = [_decode(table, dict(r)) for r in conn.execute(query).mappings()]
        return tables

    @contextmanager
    def erasure(self, user_id: str) -> Iterator[SqlErasure]:
        with self._write() as conn:
            if not self.is_sqlite:  # waits for checked buffered writes in flight (erased_after)
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ERASURE_LOCK})")
            yield SqlErasure(conn, self, user_id)

    def erasure_seq(self) -> int:
        return self._read_meta_int(ERASURE_SEQ)

    def scrub_disk(self) -> bool:
        """Leave no copy of deleted rows in the database files (after an erasure).

        SQLite keeps old bytes in three places: the write-ahead log (old page images), freed
        pages, and the unused gap inside live pages (cells moved by a page split leave their
        old copy behind, which ``secure_delete`` does not reach). So the log is checkpointed,
        the database rebuilt into fresh pages (``VACUUM``, with ``secure_delete`` on for every
        connection) and the log checkpointed and truncated to zero bytes again. This costs
        time in proportion to the database size (about 20 ms per MB). True when done; False
        when another process kept the database busy throughout. PostgreSQL keeps dead rows
        until its own VACUUM reclaims them: nothing is done here (see docs/privacy.md).
        """
        if not self.is_sqlite:
            return True
        for attempt in range(SCRUB_ATTEMPTS):
            try:
                with self._sqlite_writer, self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                    conn.exec_driver_sql("VACUUM")
                    busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            except OperationalError as exc:
                log.warning("scrubbing the database files after an erasure: %s (retrying)", exc)
                busy = 1
            if not busy:
                return True
            time.sleep(0.05 * (attempt + 1))
        return False

    def drop_events_before(self, cutoff: float, dry_run: bool = False) -> DroppedEvents:
        ev = t.events.c
        deleted = 0
        if dry_run:
            with self.engine.connect() as conn:
                deleted = int(conn.execute(select(func.count()).where(ev.ts < cutoff)).scalar() or 0)
        else:
            while True:
                with self._write() as conn:
                    query = select(ev.seq).where(ev.ts < cutoff).limit(RETENTION_BATCH)
                    seqs = list(conn.execute(query).scalars())
                    if not seqs:
                        break
                    for start in range(0, len(seqs), 1000):
                        conn.execute(delete(t.events).where(ev.seq.in_(seqs[start : start + 1000])))
                    deleted += len(seqs)
        with self.engine.connect() as conn:
            kept = int(conn.execute(select(func.count()).select_from(t.events)).scalar() or 0)
        return DroppedEvents(deleted=deleted, kept=kept)
