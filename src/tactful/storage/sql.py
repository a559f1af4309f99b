"""The SQL backend: SQLite (WAL) for the embedded default, PostgreSQL for production."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, delete, event, func, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from tactful.clock import to_epoch
from tactful.domain.event import Event
from tactful.domain.item import Item, TagMeta
from tactful.domain.person import Consent, Person
from tactful.errors import StorageError
from tactful.signals.profile import Profile
from tactful.storage import codec
from tactful.storage import schema as t
from tactful.storage.protocol import ItemStat, ItemStateRow, ServedList, StoredEvent

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = threading.Lock()
CHUNK = 500
BUSY_TIMEOUT_MS = 10_000  # one wait for SQLite's lock (readers and each BEGIN attempt)
LOCK_WAIT_SECONDS = 120.0  # how long a SQLite writer retries BEGIN IMMEDIATE before giving up
log = logging.getLogger("tactful.storage")


class SqlStore:
    """A :class:`~tactful.storage.protocol.Store` over SQLAlchemy Core."""

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
        else:
            self.engine = create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
        self._insert = sqlite_insert if self.is_sqlite else pg_insert
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
    def head_revision() -> str:
        """The newest schema revision this code knows."""
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        return str(head)

    def schema_version(self) -> str | None:
        with self.engine.connect() as conn:
            row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
            return None if row is None else str(row[0])

    def close(self) -> None:
        self.engine.dispose()

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
                        conn.exec_driver_sql("ROLLBACK")
                        raise
                    else:
                        conn.exec_driver_sql("COMMIT")
                    finally:
                        conn.close()
            else:
                with self.engine.connect() as conn, conn.begin():
                    yield conn
        except OperationalError as exc:
            raise StorageError(f"database unavailable: {exc.orig}") from exc

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
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                except BaseException:
                    conn.close()
                    raise
                return conn
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def transaction(self) -> AbstractContextManager[Connection]:
        """One all-or-nothing write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        return self._write()

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlUnitOfWork]:
        with self._write() as conn:
            yield SqlUnitOfWork(conn, self)

    def upsert(self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
        """Insert-or-update ``rows`` (all with the same columns) as one driver-level executemany.

        The statement text is built from our own table and column names only, and cached.
        """
        if not rows:
            return
        cols = list(rows[0])
        cache_key = (table.name, tuple(keys), tuple(cols))
        sql = self._upserts.get(cache_key)
        if sql is None:
            mark = "?" if self.is_sqlite else "%s"
            names = ", ".join(f'"{c}"' for c in cols)
            updates = ", ".join(f'"{c}" = excluded."{c}"' for c in cols if c not in keys)
            conflict = ", ".join(f'"{k}"' for k in keys)
            sql = self._upserts[cache_key] = (
                f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join([mark] * len(cols))}) '
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
            )
        conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows])

    # -- catalog ---------------------------------------------------------------------------
    def upsert_items(self, items: Sequence[Item], now: float) -> None:
        rows = [codec.item_row(item, now) for item in items]
        with self._write() as conn:
            if rows:
                self.upsert(conn, t.items, rows, ["id"])
            self._bump_catalog(conn)

    def delete_items(self, ids: Sequence[str]) -> int:
        with self._write() as conn:
            deleted = 0
            for start in range(0, len(ids), CHUNK):
                part = list(ids[start : start + CHUNK])
                deleted += conn.execute(delete(t.items).where(t.items.c.id.in_(part))).rowcount
                conn.execute(delete(t.item_stats).where(t.item_stats.c.item_id.in_(part)))
            self._bump_catalog(conn)
            return deleted

    def _bump_catalog(self, conn: Connection) -> None:
        current = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "catalog_version"))
        version = int(current.scalar() or 0) + 1
        self.upsert(conn, t.meta, [{"key": "catalog_version", "value": str(version)}], ["key"])

    def catalog_version(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "catalog_version")).scalar()
            return int(value or 0)

    def get_item(self, item_id: str) -> Item | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.items).where(t.items.c.id == item_id)).first()
            return None if row is None else codec.row_item(row)

    def item_tags(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """Tags of the given items that exist; missing ids are simply absent."""
        found: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for part in _chunks(list(dict.fromkeys(ids))):
                query = select(t.items.c.id, t.items.c.tags).where(t.items.c.id.in_(part))
                found.update((r.id, json.loads(r.tags)) for r in conn.execute(query))
        return found

    def load_catalog(self) -> list[Item]:
        with self.engine.connect() as conn:
            return [codec.row_item(r) for r in conn.execute(select(t.items).order_by(t.items.c.id))]

    def item_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(t.items.c.id).order_by(t.items.c.id)).scalars())

    def upsert_tag_meta(self, metas: Sequence[TagMeta]) -> None:
        rows = [{"tag": m.tag, "label": m.label, "sensitive_category": m.sensitive_category} for m in metas]
        with self._write() as conn:
            if rows:
                self.upsert(conn, t.tag_meta, rows, ["tag"])
            self._bump_catalog(conn)

    def load_tag_meta(self) -> list[TagMeta]:
        with self.engine.connect() as conn:
            return [
                TagMeta.model_construct(tag=r.tag, label=r.label, sensitive_category=r.sensitive_category)
                for r in conn.execute(select(t.tag_meta))
            ]

    def load_all_item_stats(self) -> list[ItemStat]:
        with self.engine.connect() as conn:
            return [
                ItemStat(r.item_id, r.interactions, r.trend, r.trend_ts)
                for r in conn.execute(select(t.item_stats))
            ]

    # -- people ----------------------------------------------------------------------------
    def get_person(self, user_id: str) -> Person | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.persons).where(t.persons.c.id == user_id)).first()
            return None if row is None else codec.row_person(row)

    def save_person(self, person: Person) -> None:
        with self.unit_of_work() as uow:
            uow.save_persons([person])

    def load_profile(self, user_id: str) -> Profile:
        with self.engine.connect() as conn:
            return _load_profiles(conn, [user_id])[user_id]

    def load_person_state(self, user_id: str) -> tuple[Person | None, Profile, int | None]:
        """The person record, their profile and its version, read together."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.persons).where(t.persons.c.id == user_id)).first()
            profile = _load_profiles(conn, [user_id])[user_id]
        if row is None:
            return None, profile, None
        return codec.row_person(row), profile, row.version

    def sample_person_ids(self, limit: int) -> list[str]:
        """A few person ids, most active first (for the demo page)."""
        with self.engine.connect() as conn:
            query = select(t.persons.c.id).order_by(t.persons.c.positive_signals.desc()).limit(limit)
            return list(conn.execute(query).scalars())

    def save_recommendations(self, served: Sequence[ServedList]) -> None:
        rows = [
            {
                "id": s.rec_id,
                "user_id": s.user_id,
                "surface": s.surface,
                "created_at": s.at,
                "items": codec.dumps(list(s.item_ids)),
            }
            for s in served
        ]
        if rows:
            # one driver-level executemany: this runs in the serving process's background
            # thread, and SQLAlchemy's per-row work would hold the GIL several times longer
            mark = "?" if self.is_sqlite else "%s"
            cols = list(rows[0])
            # idempotent: a retried write whose first attempt did commit changes nothing
            sql = (
                f'INSERT INTO "{t.recommendations.name}" ({", ".join(cols)}) '
                f"VALUES ({', '.join([mark] * len(cols))}) ON CONFLICT (id) DO NOTHING"
            )
            with self._write() as conn:
                conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows])

    def iter_item_states(self, batch_size: int = 50_000) -> Iterator[list[ItemStateRow]]:
        """Every person's per-item state (decayed scores by provenance), in key order."""
        c = t.person_items.c
        last = ("", "")
        while True:
            query = (
                select(c.user_id, c.item_id, c.scores, c.last_engaged)
                .where(tuple_(c.user_id, c.item_id) > tuple_(*last))
                .order_by(c.user_id, c.item_id)
                .limit(batch_size)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            last = (rows[-1].user_id, rows[-1].item_id)
            scores = codec.loads_many([r.scores for r in rows])
            yield [
                ItemStateRow(r.user_id, r.item_id, parts, r.last_engaged)
                for r, parts in zip(rows, scores, strict=True)
            ]

    def consents(self) -> dict[str, Consent]:
        """Every stored person's consent."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.persons.c.id, t.persons.c.consent)).all()
        return {r.id: Consent.model_validate_json(r.consent) for r in rows}

    def last_event_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(t.events.c.seq))).scalar() or 0)

    def iter_events(self, batch_size: int = 50_000) -> Iterator[list[StoredEvent]]:
        last = 0
        cols = t.events.c
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(
                        cols.seq,
                        cols.event_id,
                        cols.user_id,
                        cols.item_id,
                        cols.type,
                        cols.value,
                        cols.ts,
                        cols.provenance,
                    )
                    .where(cols.seq > last)
                    .order_by(cols.seq)
                    .limit(batch_size)
                ).all()
            if not rows:
                return
            last = rows[-1].seq
            yield [StoredEvent(*r) for r in rows]

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.metadata.tables[table])).scalar() or 0)

    def stats(self) -> dict[str, Any]:
        return {name: self.count(name) for name in ("items", "persons", "events", "interests")}


class SqlUnitOfWork:
    """Reads and writes inside one transaction of :class:`SqlStore`."""

    def __init__(self, conn: Connection, store: SqlStore) -> None:
        self.conn = conn
        self.store = store

    def known_event_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), CHUNK):
            part = list(ids[start : start + CHUNK])
            found.update(
                self.conn.execute(select(t.events.c.event_id).where(t.events.c.event_id.in_(part))).scalars()
            )
        return found

    def load_profiles(self, user_ids: Sequence[str]) -> dict[str, Profile]:
        return _load_profiles(self.conn, user_ids, lock=not self.store.is_sqlite)

    def load_persons(self, user_ids: Sequence[str]) -> dict[str, Person]:
        out: dict[str, Person] = {}
        for part in _chunks(sorted(set(user_ids))):
            for row in self.conn.execute(select(t.persons).where(t.persons.c.id.in_(part))):
                out[row.id] = codec.row_person(row)
        return out

    def load_item_stats(self, item_ids: Sequence[str]) -> dict[str, ItemStat]:
        out: dict[str, ItemStat] = {}
        for part in _chunks(sorted(set(item_ids))):
            query = select(t.item_stats).where(t.item_stats.c.item_id.in_(part))
            if not self.store.is_sqlite:
                query = query.with_for_update()
            for r in self.conn.execute(query):
                out[r.item_id] = ItemStat(r.item_id, r.interactions, r.trend, r.trend_ts)
        return out

    def write_events(self, events: Sequence[Event]) -> None:
        rows = [
            {
                "event_id": e.id,
                "user_id": e.user_id,
                "item_id": e.item_id,
                "type": e.type,
                "value": e.value,
                "ts": to_epoch(e.timestamp) if e.timestamp else 0.0,
                "provenance": e.provenance.value if e.provenance else "observed",
                "surface": e.surface,
                "recommendation_id": e.recommendation_id,
                "context": e.context.model_dump_json(exclude_none=True) if e.context else None,
            }
            for e in events
        ]
        for start in range(0, len(rows), CHUNK * 4):
            self.conn.execute(insert(t.events), rows[start : start + CHUNK * 4])

    def save_profiles(self, profiles: Sequence[Profile]) -> None:
        interest_rows: list[dict[str, Any]] = []
        gone: list[tuple[str, str]] = []
        item_rows: list[dict[str, Any]] = []
        for p in profiles:
            for tag in p.dirty_tags:
                if tag in p.interests:
                    interest_rows.append(codec.interest_row(p.user_id, tag, p.interests[tag]))
                else:
                    gone.append((p.user_id, tag))
            item_rows.extend(codec.item_state_row(p.user_id, i, p.items[i]) for i in p.dirty_items)
            self.conn.execute(
                update(t.persons)
                .where(t.persons.c.id == p.user_id)
                .values(
                    positive_signals=p.positive_signals,
                    active_days=codec.dumps(p.active_days),
                    version=t.persons.c.version + 1,
                )
            )
            p.dirty_tags.clear()
            p.dirty_items.clear()
        for user_id, tag in gone:
            self.conn.execute(
                delete(t.interests).where(t.interests.c.user_id == user_id, t.interests.c.tag == tag)
            )
        if interest_rows:
            self.store.upsert(self.conn, t.interests, interest_rows, ["user_id", "tag"])
        if item_rows:
            self.store.upsert(self.conn, t.person_items, item_rows, ["user_id", "item_id"])

    def save_persons(self, persons: Sequence[Person]) -> None:
        """Upsert person records (time zone, consent, stated interests, mutes); bumps versions."""
        if not persons:
            return
        rows = [codec.person_row(p, 0, [], time.time()) for p in persons]
        base = self.store._insert(t.persons)
        changed = {c: base.excluded[c] for c in ("timezone", "consent", "stated", "muted", "blocked")}
        stmt = base.on_conflict_do_update(
            index_elements=["id"], set_={**changed, "version": t.persons.c.version + 1}
        )
        self.conn.execute(stmt, rows)

    def versions(self, user_ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for part in _chunks(sorted(set(user_ids))):
            query = select(t.persons.c.id, t.persons.c.version).where(t.persons.c.id.in_(part))
            out.update((r.id, r.version) for r in self.conn.execute(query))
        return out

    def create_persons(self, persons: Sequence[Person], now: float) -> None:
        rows = [codec.person_row(p, 0, [], now) for p in persons]
        if rows:
            stmt = self.store._insert(t.persons).on_conflict_do_nothing(index_elements=["id"])
            self.conn.execute(stmt, rows)

    def save_item_stats(self, stats: Sequence[ItemStat]) -> None:
        rows = [
            {"item_id": s.item_id, "interactions": s.interactions, "trend": s.trend, "trend_ts": s.trend_ts}
            for s in stats
        ]
        if rows:
            self.store.upsert(self.conn, t.item_stats, rows, ["item_id"])


def _load_profiles(conn: Connection, user_ids: Sequence[str], lock: bool = False) -> dict[str, Profile]:
    profiles = {uid: Profile(uid) for uid in user_ids}
    for part in _chunks(sorted(profiles)):
        query = select(t.persons.c.id, t.persons.c.positive_signals, t.persons.c.active_days).where(
            t.persons.c.id.in_(part)
        )
        if lock:
            query = query.order_by(t.persons.c.id).with_for_update()
        for row in conn.execute(query):
            profiles[row.id].positive_signals = row.positive_signals
            profiles[row.id].active_days = json.loads(row.active_days)
        for row in conn.execute(select(t.interests).where(t.interests.c.user_id.in_(part))):
            profiles[row.user_id].interests[row.tag] = codec.row_interest(row)
        for row in conn.execute(select(t.person_items).where(t.person_items.c.user_id.in_(part))):
            profiles[row.user_id].items[row.item_id] = codec.row_item_state(row)
    return profiles


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


def _is_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked" / busy: another process holds the write lock."""
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig).lower()
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
    cur.close()
