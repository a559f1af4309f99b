"""The SQL backend: SQLite (WAL) for the embedded default, PostgreSQL for production.

:class:`SqlStore` is the one object implementing :class:`~tactful.storage.protocol.Store`:
the catalog, people, events and profiles here, the other concerns in the mixins it is
built from (:mod:`~tactful.storage.sql_policy`, :mod:`~tactful.storage.sql_trust`,
:mod:`~tactful.storage.sql_privacy`), all on the connections of :mod:`~tactful.storage.sql_base`.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Integer, Table, cast, delete, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tactful.clock import to_epoch
from tactful.domain.event import Event
from tactful.domain.item import Item, TagMeta
from tactful.domain.person import Consent, Person
from tactful.signals.profile import Profile, ProfileDelta
from tactful.storage import codec, pg_copy
from tactful.storage import schema as t
from tactful.storage.protocol import (
    EXPORT_FIELDS,
    Activity,
    ErasureCheck,
    EventColumns,
    ItemStat,
    ItemStateRow,
    KnownEvent,
    ServedList,
    StoredEvent,
)
from tactful.storage.sql_base import CATALOG_VERSION, CHUNK, chunks, driver, marks, row_type
from tactful.storage.sql_experiments import SqlExperiments
from tactful.storage.sql_messages import SqlMessages
from tactful.storage.sql_policy import SqlPolicy
from tactful.storage.sql_privacy import SqlPrivacy, erased_after
from tactful.storage.sql_trust import SqlTrust


class SqlStore(SqlPolicy, SqlTrust, SqlPrivacy, SqlMessages, SqlExperiments):
    """A :class:`~tactful.storage.protocol.Store` over SQLAlchemy Core."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._insert = sqlite_insert if self.is_sqlite else pg_insert

    @contextmanager
    def unit_of_work(self) -> Iterator[SqlUnitOfWork]:
        with self._write() as conn:
            yield SqlUnitOfWork(conn, self)

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

    def catalog_version(self) -> int:
        return self._read_meta_int(CATALOG_VERSION)

    def get_item(self, item_id: str) -> Item | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.items).where(t.items.c.id == item_id)).first()
            return None if row is None else codec.row_item(row)

    def item_tags(self, ids: Sequence[str]) -> dict[str, list[str]]:
        """Tags of the given items that exist; missing ids are simply absent."""
        found: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for part in chunks(list(dict.fromkeys(ids))):
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
        return codec.row_person(row), profile, profile.version

    def load_person_delta(self, user_id: str, since: int) -> tuple[Person, ProfileDelta] | None:
        """The person record and the profile rows written after version ``since``.

        None when the person is gone or rows were deleted after ``since`` (a mute, an
        opt-out): then only a full load is exact. Cost is the changed rows, not the history.
        """
        with self.engine.connect() as conn:
            row = conn.execute(select(t.persons).where(t.persons.c.id == user_id)).first()
            if row is None or row.reset_version > since:
                return None
            ic, pc = t.interests.c, t.person_items.c
            interests = {
                r.tag: codec.row_interest(r)
                for r in conn.execute(select(t.interests).where(ic.user_id == user_id, ic.version > since))
            }
            items = {
                r.item_id: codec.row_item_state(r)
                for r in conn.execute(select(t.person_items).where(pc.user_id == user_id, pc.version > since))
            }
        delta = ProfileDelta(
            row.version,
            row.positive_signals,
            json.loads(row.active_days),
            interests,
            items,
            codec.json_trace(json.loads(row.trace)),
        )
        return codec.row_person(row), delta

    def sample_person_ids(self, limit: int) -> list[str]:
        """A few person ids, most active first (for the demo page)."""
        with self.engine.connect() as conn:
            query = select(t.persons.c.id).order_by(t.persons.c.positive_signals.desc()).limit(limit)
            return list(conn.execute(query).scalars())

    def save_recommendations(self, served: Sequence[ServedList], check: ErasureCheck | None = None) -> int:
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
        if not rows:
            return 0
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
            erased = erased_after(conn, self.is_sqlite, check, [(s.user_id, s.at) for s in served])
            if erased:
                rows = [r for r in rows if (r["user_id"], r["created_at"]) not in erased]
            if rows:
                conn.exec_driver_sql(sql, [tuple(r[c] for c in cols) for r in rows])
        return len(rows)

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

    def iter_event_columns(self, batch_size: int = 50_000, after_seq: int = 0) -> Iterator[EventColumns]:
        last = after_seq
        cols = t.events.c
        fields = [getattr(cols, name) for name in EXPORT_FIELDS]
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(*fields).where(cols.seq > last).order_by(cols.seq).limit(batch_size)
                ).all()
            if not rows:
                return
            last = rows[-1][0]
            yield EventColumns(*zip(*rows, strict=True))

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.metadata.tables[table])).scalar() or 0)

    def stats(self) -> dict[str, Any]:
        return {name: self.count(name) for name in ("items", "persons", "events", "interests")}

    def activity(self, since: float, until: float, bucket_seconds: int) -> Activity:
        if bucket_seconds < 1 or until <= since:
            raise ValueError("activity needs a positive bucket and since < until")
        ev = t.events.c
        n = int(-(-(until - since) // bucket_seconds))
        window = (ev.ts >= since, ev.ts < until)
        offset = (ev.ts - since) / bucket_seconds  # not negative inside the window
        # SQLite's CAST truncates (= floor here); PostgreSQL's rounds, so it floors first
        bucket = cast(offset, Integer) if self.is_sqlite else cast(func.floor(offset), Integer)
        buckets = [0] * n
        with self.engine.connect() as conn:
            for b, count in conn.execute(select(bucket, func.count()).where(*window).group_by(bucket)):
                if b is not None and 0 <= int(b) < n:
                    buckets[int(b)] += int(count)
            by_type = {
                str(kind): int(count)
                for kind, count in conn.execute(
                    select(ev.type, func.count()).where(*window).group_by(ev.type)
                )
            }
            people = conn.execute(select(func.count(func.distinct(ev.user_id))).where(*window)).scalar()
        return Activity(since, bucket_seconds, buckets, by_type, int(people or 0))


ITEM_STAT_COLUMNS = ("item_id", "interactions", "trend", "trend_ts")
EVENT_COLUMNS = (
    "event_id",
    "user_id",
    "item_id",
    "type",
    "value",
    "ts",
    "provenance",
    "surface",
    "recommendation_id",
    "context",
)


class SqlUnitOfWork:
    """Reads and writes inside one transaction of :class:`SqlStore`."""

    def __init__(self, conn: Connection, store: SqlStore) -> None:
        self.conn = conn
        self.store = store
        self.absent = pg_copy.Absent()  # PostgreSQL: keys seen missing under the persons locks
        # SQLite: the hot statements of ingest run on the driver connection (see ``driver``)
        self.raw: Any = driver(conn) if store.is_sqlite else None
        # persons rows read by :meth:`load_persons` in this transaction, until it writes any
        # (locked on PostgreSQL, serial on SQLite), so the counters need no second read
        self._persons: dict[str, Any] = {}

    def known_events(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], KnownEvent]:
        wanted = set(keys)
        found: dict[tuple[str, str], KnownEvent] = {}
        if not wanted:
            return found
        if not self.store.is_sqlite:  # one query: the keys as arrays, joined on the unique key
            pairs = sorted(wanted)
            sql = (
                "SELECT e.user_id, e.event_id, e.item_id, e.type, e.value FROM events e "
                "JOIN unnest(%b::TEXT[], %b::TEXT[]) AS k(user_id, event_id) "
                "ON e.event_id = k.event_id AND e.user_id = k.user_id"
            )
            rows = self.conn.exec_driver_sql(sql, ([u for u, _ in pairs], [i for _, i in pairs]))
            for r in rows:
                found[(r.user_id, r.event_id)] = KnownEvent(r.item_id, r.type, r.value)
            self.absent.saw_events(pairs, found)
            return found
        sql = "SELECT user_id, event_id, item_id, type, value FROM events WHERE event_id IN "
        for part in chunks(sorted({event_id for _, event_id in wanted})):  # the key leads with the id
            for user_id, event_id, item_id, kind, value in self.raw.execute(sql + marks(len(part)), part):
                if (user_id, event_id) in wanted:
                    found[(user_id, event_id)] = KnownEvent(item_id, kind, value)
        return found

    def load_profiles(self, user_ids: Sequence[str]) -> dict[str, Profile]:
        """Whole profiles (preference changes; events use :meth:`load_profile_rows`)."""
        profiles = _load_profiles(self.conn, user_ids, lock=not self.store.is_sqlite)
        if not self.store.is_sqlite:
            for user_id, p in profiles.items():
                self.absent.saw_all_rows("interests", user_id, p.interests)
                self.absent.saw_all_rows("person_items", user_id, p.items)
        return profiles

    def load_profile_rows(
        self, wanted: Mapping[str, tuple[Collection[str], Collection[str]]]
    ) -> dict[str, Profile]:
        """Partial profiles: per person only the given ``(tags, items)`` rows and the counters.

        This is what an event reads: its cost depends on what the batch touches, never on
        the length of the person's history. The persons rows are locked on PostgreSQL.
        """
        profiles = {uid: Profile(uid) for uid in wanted}
        stashed = [uid for uid in profiles if uid in self._persons]
        for uid in stashed:
            _counters_from(profiles[uid], self._persons[uid])
        rest = sorted(uid for uid in profiles if uid not in self._persons)
        for part in chunks(rest):
            _load_counters(self.conn, profiles, part, lock=not self.store.is_sqlite)
        if not self.store.is_sqlite:
            self._load_rows_pg(profiles, wanted)
            for user_id, (tags, items) in wanted.items():
                p = profiles[user_id]
                self.absent.saw_rows("interests", user_id, tags, p.interests)
                self.absent.saw_rows("person_items", user_id, items, p.items)
            return profiles
        # One indexed lookup per person and table (row-value IN lists are not index lookups on
        # SQLite), on the driver connection: the statement overhead would otherwise dominate.
        interest_cols, interest_row = row_type(t.interests)
        item_cols, item_row = row_type(t.person_items)
        for user_id, (tags, items) in wanted.items():
            p = profiles[user_id]
            for part in chunks(sorted(set(tags))):
                sql = f"SELECT {interest_cols} FROM interests WHERE user_id = ? AND tag IN {marks(len(part))}"
                for r in map(interest_row._make, self.raw.execute(sql, (user_id, *part))):
                    p.interests[r.tag] = codec.row_interest(r)
            for part in chunks(sorted(set(items))):
                sql = (
                    f"SELECT {item_cols} FROM person_items "
                    f"WHERE user_id = ? AND item_id IN {marks(len(part))}"
                )
                for r in map(item_row._make, self.raw.execute(sql, (user_id, *part))):
                    p.items[r.item_id] = codec.row_item_state(r)
        return profiles

    def _load_rows_pg(
        self, profiles: dict[str, Profile], wanted: Mapping[str, tuple[Collection[str], Collection[str]]]
    ) -> None:
        """PostgreSQL: every wanted row of every person in one query per table (key arrays)."""
        for table, pick, column in (("interests", 0, "tag"), ("person_items", 1, "item_id")):
            users: list[str] = []
            keys: list[str] = []
            for user_id, both in wanted.items():
                for key in set(both[pick]):
                    users.append(user_id)
                    keys.append(key)
            if not keys:
                continue
            sql = (
                f"SELECT r.* FROM {table} r JOIN unnest(%b::TEXT[], %b::TEXT[]) AS k(user_id, {column}) "
                f"ON r.user_id = k.user_id AND r.{column} = k.{column}"
            )
            rows = self.conn.exec_driver_sql(sql, (users, keys))
            if table == "interests":
                for r in rows:
                    profiles[r.user_id].interests[r.tag] = codec.row_interest(r)
            else:
                for r in rows:
                    profiles[r.user_id].items[r.item_id] = codec.row_item_state(r)

    def load_persons(self, user_ids: Sequence[str]) -> dict[str, Person]:
        out: dict[str, Person] = {}
        if self.store.is_sqlite:  # write transactions are serial already: no locks to take
            cols, person_row = row_type(t.persons)
            for part in chunks(sorted(set(user_ids))):
                sql = f"SELECT {cols} FROM persons WHERE id IN {marks(len(part))}"
                for row in map(person_row._make, self.raw.execute(sql, part)):
                    out[row.id] = codec.row_person(row)
                    self._persons[row.id] = row
            return out
        for part in chunks(sorted(set(user_ids))):
            query = select(t.persons).where(t.persons.c.id.in_(part))
            query = query.order_by(t.persons.c.id).with_for_update()
            for row in self.conn.execute(query):
                out[row.id] = codec.row_person(row)
                self._persons[row.id] = row
        self.absent.lock(out)
        return out

    def load_item_stats(self, item_ids: Sequence[str]) -> dict[str, ItemStat]:
        return self.store._load_item_stats(self.conn, item_ids)

    def write_events(
        self,
        events: Sequence[Event],
        times: Sequence[float] | None = None,
        provenances: Sequence[str] | None = None,
    ) -> int:
        """Append the raw events in one statement (the log is the bulk of a batch).

        ``ON CONFLICT DO NOTHING`` on the per-person id: a concurrent retry that got here
        first makes this one a no-op for that event, never a unique-key error. On
        PostgreSQL, events whose ids this transaction looked up and did not find while
        holding their persons' locks are copied straight in (:class:`pg_copy.Absent`).
        """
        if not events:
            return 0
        if times is None:
            times = [to_epoch(e.timestamp) if e.timestamp else 0.0 for e in events]
        if provenances is None:
            provenances = [e.provenance.value if e.provenance else "observed" for e in events]
        rows = (  # built as they are sent (PostgreSQL's COPY streams them while the server inserts)
            (
                e.id,
                e.user_id,
                e.item_id,
                e.type,
                e.value,
                at,
                provenance,
                e.surface,
                e.recommendation_id,
                e.context.model_dump_json(exclude_none=True) if e.context else None,
            )
            for e, at, provenance in zip(events, times, provenances, strict=True)
        )
        columns = ", ".join(EVENT_COLUMNS)
        conflict = "ON CONFLICT (user_id, event_id) DO NOTHING"
        if self.store.is_sqlite:
            sql = f"INSERT INTO {t.events.name} ({columns}) VALUES {marks(len(EVENT_COLUMNS))} {conflict}"
            # sqlite3 sums an executemany's rows into rowcount (the contract suite checks it)
            return int(self.raw.executemany(sql, rows).rowcount)
        # PostgreSQL: binary COPY, in the batch's order (so seq keeps it), straight into the
        # log when no one else can be writing these ids (see pg_copy.Absent), else through
        # a staging table and an ON CONFLICT DO NOTHING merge
        new = self.absent.new_event
        if all([new(e.user_id, e.id) for e in events]):  # every one looked at: each is marked written
            pg_copy.copy_into(self.conn, t.events, EVENT_COLUMNS, rows)
            return len(events)
        return pg_copy.merge(
            self.conn, t.events, EVENT_COLUMNS, rows, ["user_id", "event_id"], update=False, ordered=True
        )

    def save_profiles(self, profiles: Sequence[Profile]) -> None:
        """Write each profile's dirty rows at version ``profile.version + 1`` (and set it).

        Rows carry the version that wrote them, so other workers bring their caches forward
        by reading only newer rows; deleting a row moves the person's reset version.
        """
        if not self.store.is_sqlite:
            self._save_profiles_pg(profiles)
            return
        interest_rows: list[tuple[Any, ...]] = []
        gone: list[tuple[str, str]] = []
        item_rows: list[tuple[Any, ...]] = []
        gone_items: list[tuple[str, str]] = []
        person_rows: list[tuple[int, str, int, str, str, int]] = []
        interest_tuple, item_state_tuple = codec.interest_tuple, codec.item_state_tuple
        for p in profiles:
            version = p.version + 1
            deleted = False
            user_id, interests, items = p.user_id, p.interests, p.items
            for tag in p.dirty_tags:
                interest = interests.get(tag)
                if interest is not None:
                    interest_rows.append(interest_tuple(user_id, tag, interest, version))
                else:
                    gone.append((user_id, tag))
                    deleted = True
            for item_id in p.dirty_items:
                state = items.get(item_id)
                if state is not None:
                    item_rows.append(item_state_tuple(user_id, item_id, state, version))
                else:
                    gone_items.append((user_id, item_id))
                    deleted = True
            days, trace = codec.dumps(p.active_days), codec.trace_json(p.direct)
            person_rows.append((version, user_id, p.positive_signals, days, trace, int(deleted)))
            p.version = version
            p.dirty_tags.clear()
            p.dirty_items.clear()
        if person_rows:
            self._persons.clear()
            mark = "?" if self.store.is_sqlite else "%s"
            sql = (
                f"UPDATE persons SET positive_signals = {mark}, active_days = {mark}, trace = {mark}, "
                f"version = {mark}, "
                f"reset_version = CASE WHEN {mark} = 1 THEN {mark} ELSE reset_version END WHERE id = {mark}"
            )
            params = [(pos, days, trace, v, flag, v, uid) for v, uid, pos, days, trace, flag in person_rows]
            if self.store.is_sqlite:
                self.raw.executemany(sql, params)
            else:
                self.conn.exec_driver_sql(sql, params)
        pi = t.person_items.c
        for user_id, item_id in gone_items:
            self.conn.execute(delete(t.person_items).where(pi.user_id == user_id, pi.item_id == item_id))
        for user_id, tag in gone:
            self.conn.execute(
                delete(t.interests).where(t.interests.c.user_id == user_id, t.interests.c.tag == tag)
            )
        upsert = self.store.upsert_tuples
        upsert(self.conn, t.interests, codec.INTEREST_COLUMNS, interest_rows, ["user_id", "tag"])
        upsert(self.conn, t.person_items, codec.ITEM_STATE_COLUMNS, item_rows, ["user_id", "item_id"])

    def _save_profiles_pg(self, profiles: Sequence[Profile]) -> None:
        """:meth:`save_profiles` on PostgreSQL: the same rows, written through binary COPY.

        Rows are encoded as COPY sends them, so the server inserts while the client is
        still encoding; rows of keys known missing (:class:`pg_copy.Absent`) go straight
        into the table, the others (one per person and key) are merged afterwards.
        """
        work: list[tuple[Profile, int]] = []
        person_rows: list[tuple[int, str, str, int, int, int, str]] = []
        gone: list[tuple[str, str]] = []
        gone_items: list[tuple[str, str]] = []
        for p in profiles:
            version = p.version + 1
            user_id, interests, items = p.user_id, p.interests, p.items
            missing = [tag for tag in p.dirty_tags if tag not in interests]
            missing_items = [item_id for item_id in p.dirty_items if item_id not in items]
            gone += [(user_id, tag) for tag in missing]
            gone_items += [(user_id, item_id) for item_id in missing_items]
            flag = int(bool(missing or missing_items))
            days, trace = codec.dumps(p.active_days), codec.trace_json(p.direct)
            person_rows.append((p.positive_signals, days, trace, version, flag, version, user_id))
            work.append((p, version))
            p.version = version
        if person_rows:
            self.conn.exec_driver_sql(
                "UPDATE persons SET positive_signals = %s, active_days = %s, trace = %s, version = %s, "
                "reset_version = CASE WHEN %s = 1 THEN %s ELSE reset_version END WHERE id = %s",
                person_rows,
            )
        pi = t.person_items.c
        for user_id, item_id in gone_items:
            self.conn.execute(delete(t.person_items).where(pi.user_id == user_id, pi.item_id == item_id))
        for user_id, tag in gone:
            self.conn.execute(
                delete(t.interests).where(t.interests.c.user_id == user_id, t.interests.c.tag == tag)
            )
        known: list[tuple[Any, ...]] = []

        def dirty_rows(
            table: Table,
            pick: Callable[[Profile], tuple[set[str], Mapping[str, Any]]],
            encode: Callable[[str, str, Any, int], tuple[Any, ...]],
        ) -> Iterator[tuple[Any, ...]]:
            """The table's dirty rows as encoded; keys seen missing are yielded, others kept."""
            new = functools.partial(self.absent.new_row, table.name)
            for p, version in work:
                dirty, found = pick(p)
                for key in dirty:
                    value = found.get(key)
                    if value is not None:
                        row = encode(p.user_id, key, value, version)
                        if new(p.user_id, key):
                            yield row
                        else:
                            known.append(row)

        for table, cols, pick, encode, keys in (
            (
                t.interests,
                codec.INTEREST_COLUMNS,
                lambda p: (p.dirty_tags, p.interests),
                codec.interest_tuple,
                ["user_id", "tag"],
            ),
            (
                t.person_items,
                codec.ITEM_STATE_COLUMNS,
                lambda p: (p.dirty_items, p.items),
                codec.item_state_tuple,
                ["user_id", "item_id"],
            ),
        ):
            if not any(pick(p)[0] for p, _ in work):
                continue
            known.clear()
            pg_copy.copy_into(self.conn, table, cols, dirty_rows(table, pick, encode))
            if known:
                pg_copy.merge(self.conn, table, cols, known, keys)
        for p, _ in work:
            p.dirty_tags.clear()
            p.dirty_items.clear()

    def item_events(self, user_id: str, item_id: str) -> list[StoredEvent]:
        ev = t.events.c
        rows = self.conn.execute(
            select(
                ev.seq,
                ev.event_id,
                ev.user_id,
                ev.item_id,
                ev.type,
                ev.value,
                ev.ts,
                ev.provenance,
                ev.context,
            )
            .where(ev.user_id == user_id, ev.item_id == item_id)
            .order_by(ev.ts, ev.seq)
        ).all()
        return [StoredEvent(*r) for r in rows]

    def delete_events(self, user_id: str, seqs: Sequence[int]) -> int:
        gone = 0
        ev = t.events.c
        ordered = sorted(set(seqs))
        for start in range(0, len(ordered), CHUNK):
            part = ordered[start : start + CHUNK]
            gone += int(
                self.conn.execute(delete(t.events).where(ev.user_id == user_id, ev.seq.in_(part))).rowcount
            )
        return gone

    def save_persons(self, persons: Sequence[Person]) -> None:
        """Upsert person records (time zone, consent, stated interests, mutes); bumps versions."""
        if not persons:
            return
        self._persons.clear()
        rows = [codec.person_row(p, 0, [], time.time()) for p in persons]
        base = self.store._insert(t.persons)
        changed = {c: base.excluded[c] for c in ("timezone", "consent", "stated", "muted", "blocked")}
        stmt = base.on_conflict_do_update(
            index_elements=["id"], set_={**changed, "version": t.persons.c.version + 1}
        )
        self.conn.execute(stmt, rows)

    def versions(self, user_ids: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for part in chunks(sorted(set(user_ids))):
            query = select(t.persons.c.id, t.persons.c.version).where(t.persons.c.id.in_(part))
            out.update((r.id, r.version) for r in self.conn.execute(query))
        return out

    def create_persons(self, persons: Sequence[Person], now: float) -> None:
        rows = [codec.person_row(p, 0, [], now) for p in persons]
        if not rows:
            return
        if self.store.is_sqlite:  # the columns of person_row, in its order
            cols = list(rows[0])
            sql = (
                f"INSERT INTO persons ({', '.join(cols)}) VALUES {marks(len(cols))} "
                "ON CONFLICT (id) DO NOTHING"
            )
            self.raw.executemany(sql, [tuple(r.values()) for r in rows])
            return
        stmt = self.store._insert(t.persons).on_conflict_do_nothing(index_elements=["id"])
        self.conn.execute(stmt, rows)

    def save_item_stats(self, stats: Sequence[ItemStat]) -> None:
        if not self.store.is_sqlite and len(stats) > 1:  # one row per item (the caller's dict)
            rows = [(s.item_id, s.interactions, s.trend, s.trend_ts) for s in stats]
            pg_copy.merge(self.conn, t.item_stats, ITEM_STAT_COLUMNS, rows, ["item_id"])
            return
        self.store._save_item_stats(self.conn, stats)


def _load_counters(conn: Connection, profiles: dict[str, Profile], part: list[str], lock: bool) -> None:
    """The persons-row part of these profiles: counters, active days, version (locked on PostgreSQL)."""
    c = t.persons.c
    query = select(c.id, c.positive_signals, c.active_days, c.trace, c.version).where(c.id.in_(part))
    if lock:
        query = query.order_by(t.persons.c.id).with_for_update()
    for row in conn.execute(query):
        _counters_from(profiles[row.id], row)


def _counters_from(p: Profile, row: Any) -> None:
    """Set a profile's persons-row part from a row that has those columns."""
    p.positive_signals = row.positive_signals
    p.active_days = codec.loads(row.active_days)
    p.direct = codec.json_trace(codec.loads(row.trace))
    p.version = row.version


def _load_profiles(conn: Connection, user_ids: Sequence[str], lock: bool = False) -> dict[str, Profile]:
    profiles = {uid: Profile(uid) for uid in user_ids}
    for part in chunks(sorted(profiles)):
        _load_counters(conn, profiles, part, lock)
        for row in conn.execute(select(t.interests).where(t.interests.c.user_id.in_(part))):
            profiles[row.user_id].interests[row.tag] = codec.row_interest(row)
        for row in conn.execute(select(t.person_items).where(t.person_items.c.user_id.in_(part))):
            profiles[row.user_id].items[row.item_id] = codec.row_item_state(row)
    return profiles
