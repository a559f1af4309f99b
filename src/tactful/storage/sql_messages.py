"""The SQL backend's :class:`~tactful.storage.protocol.MessageStore`: message preferences,
the outbox and delivery feedback.

Idempotency rests on the outbox's unique ``key`` (person, channel, period): every insert
is ``ON CONFLICT DO NOTHING`` and its row count says whether it landed, so two planners
(threads, processes or hosts) planning the same period store one row. Caps are decided
inside the same transaction, after the people's preference rows are locked (PostgreSQL
``FOR UPDATE`` in id order; SQLite's ``BEGIN IMMEDIATE`` writes are serial), so two
planners cannot both fit a message under the same cap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tactful.domain.messages import Channel, MessagePreferences, MessageState, OutboxMessage, OutboxStatus
from tactful.storage import schema as t
from tactful.storage.protocol import Counted, StoredPreferences
from tactful.storage.sql_base import SqlBase, chunks

COUNTED = (OutboxStatus.queued.value, OutboxStatus.sent.value)
REQUIRED = "required"
"""The outbox ``kind`` of one-off required messages: never counted against caps or recent items."""
_DEFAULT_PREFS = MessagePreferences().model_dump_json()
_DEFAULT_STATE = MessageState().model_dump_json()


def _stored(row: Any) -> StoredPreferences:
    """Validated on first use (the stored documents were validated when written)."""
    return StoredPreferences(row.user_id, row.prefs, row.state, row.last_period, row.timezone or "UTC")


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage.model_validate_json(row.body)


def _row(message: OutboxMessage) -> dict[str, Any]:
    nxt = message.next_attempt_at
    return {
        "id": message.id,
        "key": message.key,
        "user_id": message.user_id,
        "channel": message.channel.value,
        "status": message.status.value,
        "local_day": message.local_day,
        "next_attempt_at": None if nxt is None else nxt.timestamp(),
        "body": message.model_dump_json(),
        "kind": REQUIRED if message.kind == REQUIRED else "digest",
    }


class SqlMessages(SqlBase):
    """Message preferences, outbox and feedback over SQLAlchemy Core."""

    def _prefs_query(self) -> Any:
        mp, p = t.message_prefs, t.persons
        return select(mp.c.user_id, mp.c.prefs, mp.c.state, mp.c.last_period, p.c.timezone).select_from(
            mp.outerjoin(p, p.c.id == mp.c.user_id)
        )

    def load_message_prefs(self, user_ids: Sequence[str]) -> dict[str, StoredPreferences]:
        out: dict[str, StoredPreferences] = {}
        with self.engine.connect() as conn:
            for part in chunks(sorted(set(user_ids))):
                for row in conn.execute(self._prefs_query().where(t.message_prefs.c.user_id.in_(part))):
                    out[row.user_id] = _stored(row)
        return out

    def iter_message_prefs(self, batch_size: int = 5_000) -> Iterator[list[StoredPreferences]]:
        after = ""
        while True:
            query = (
                self._prefs_query()
                .where(t.message_prefs.c.user_id > after)
                .order_by(t.message_prefs.c.user_id)
                .limit(batch_size)
            )
            with self.engine.connect() as conn:
                rows = list(conn.execute(query))
            if not rows:
                return
            after = rows[-1].user_id
            yield [_stored(r) for r in rows if orjson.loads(r.prefs).get("channels")]

    def _lock_prefs(self, conn: Connection, user_ids: Sequence[str]) -> dict[str, Any]:
        mp = t.message_prefs
        out: dict[str, Any] = {}
        for part in chunks(sorted(set(user_ids))):
            query = select(mp.c.user_id, mp.c.last_period).where(mp.c.user_id.in_(part))
            if not self.is_sqlite:
                query = query.order_by(mp.c.user_id).with_for_update()
            out.update({r.user_id: r for r in conn.execute(query)})
        return out

    def update_message_prefs(
        self,
        user_id: str,
        change: Callable[[StoredPreferences], tuple[MessagePreferences, MessageState]],
        now: float,
    ) -> StoredPreferences:
        mp = t.message_prefs
        insert = sqlite_insert if self.is_sqlite else pg_insert
        with self._write() as conn:
            conn.execute(
                insert(mp)
                .values(user_id=user_id, prefs=_DEFAULT_PREFS, state=_DEFAULT_STATE, updated_at=now)
                .on_conflict_do_nothing(index_elements=["user_id"])
            )
            self._lock_prefs(conn, [user_id])
            row = conn.execute(self._prefs_query().where(mp.c.user_id == user_id)).one()
            current = _stored(row)
            prefs, state = change(current)
            conn.execute(
                update(mp)
                .where(mp.c.user_id == user_id)
                .values(prefs=prefs.model_dump_json(), state=state.model_dump_json(), updated_at=now)
            )
        return StoredPreferences(user_id, prefs, state, current.last_period, current.person_zone)

    def put_message_prefs(self, rows: Sequence[StoredPreferences], now: float) -> None:
        values = [
            {
                "user_id": r.user_id,
                "prefs": r.prefs.model_dump_json(),
                "state": r.state.model_dump_json(),
                "last_period": r.last_period,
                "updated_at": now,
            }
            for r in rows
        ]
        with self._write() as conn:
            for start in range(0, len(values), 1000):
                self.upsert(conn, t.message_prefs, values[start : start + 1000], ["user_id"])

    def enqueue_messages(
        self,
        user_ids: Sequence[str],
        since_day: int,
        decide: Callable[[dict[str, list[Counted]]], list[OutboxMessage]],
        periods: Mapping[str, str],
    ) -> list[OutboxMessage]:
        ob, mp = t.outbox, t.message_prefs
        insert = sqlite_insert if self.is_sqlite else pg_insert
        inserted: list[OutboxMessage] = []
        with self._write() as conn:
            self._lock_prefs(conn, user_ids)
            history: dict[str, list[Counted]] = {u: [] for u in user_ids}
            for part in chunks(sorted(set(user_ids))):
                query = select(ob.c.user_id, ob.c.channel, ob.c.local_day).where(
                    ob.c.user_id.in_(part),
                    ob.c.local_day >= since_day,
                    ob.c.status.in_(COUNTED),
                    ob.c.kind != REQUIRED,
                )
                for r in conn.execute(query):
                    history[r.user_id].append(Counted(Channel(r.channel), r.local_day))
            for message in decide(history):
                stmt = (
                    insert(ob)
                    .values(**_row(message))
                    .on_conflict_do_nothing(index_elements=["key"])
                    .returning(ob.c.id)
                )
                if conn.execute(stmt).first() is not None:
                    inserted.append(message)
            for user_id, period in periods.items():
                conn.execute(update(mp).where(mp.c.user_id == user_id).values(last_period=period))
        return inserted

    def enqueue_message(self, message: OutboxMessage) -> tuple[OutboxMessage, bool]:
        ob = t.outbox
        insert = sqlite_insert if self.is_sqlite else pg_insert
        with self._write() as conn:
            stmt = insert(ob).values(**_row(message)).on_conflict_do_nothing(index_elements=["key"])
            added = conn.execute(stmt.returning(ob.c.id)).first() is not None
            row = conn.execute(select(ob.c.body).where(ob.c.key == message.key)).one()
        return _message(row), added

    def get_message(self, message_id: str) -> OutboxMessage | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.outbox.c.body).where(t.outbox.c.id == message_id)).first()
        return None if row is None else _message(row)

    def list_messages(
        self, user_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[OutboxMessage]:
        ob = t.outbox
        query = select(ob.c.body)
        if user_id is not None:
            query = query.where(ob.c.user_id == user_id)
        if status is not None:
            query = query.where(ob.c.status == status)
        query = query.order_by(ob.c.local_day.desc(), ob.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_message(r) for r in conn.execute(query)]

    def messages_since(self, user_ids: Sequence[str], since_day: int) -> dict[str, list[OutboxMessage]]:
        ob = t.outbox
        out: dict[str, list[OutboxMessage]] = {u: [] for u in user_ids}
        with self.engine.connect() as conn:
            for part in chunks(sorted(set(user_ids))):
                query = (
                    select(ob.c.user_id, ob.c.body)
                    .where(
                        ob.c.user_id.in_(part),
                        ob.c.local_day >= since_day,
                        ob.c.status.in_(COUNTED),
                        ob.c.kind != REQUIRED,
                    )
                    .order_by(ob.c.local_day.desc(), ob.c.id.desc())
                )
                for r in conn.execute(query):
                    out[r.user_id].append(_message(r))
        return out

    def claim_messages(self, now: float, limit: int, lease_seconds: float) -> list[OutboxMessage]:
        ob = t.outbox
        query = (
            select(ob.c.id, ob.c.body)
            .where(ob.c.status == OutboxStatus.queued.value, ob.c.next_attempt_at <= now)
            .order_by(ob.c.next_attempt_at, ob.c.id)
            .limit(limit)
        )
        if not self.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        with self._write() as conn:
            rows = list(conn.execute(query))
            if rows:
                conn.execute(
                    update(ob)
                    .where(ob.c.id.in_([r.id for r in rows]))
                    .values(next_attempt_at=now + lease_seconds)
                )
        return [_message(r) for r in rows]

    def save_message(self, message: OutboxMessage) -> None:
        row = _row(message)
        with self._write() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.id == message.id).values(**row))

    def cancel_queued(self, user_id: str, reason: str, channel: str | None = None) -> int:
        ob = t.outbox
        query = select(ob.c.body).where(ob.c.user_id == user_id, ob.c.status == OutboxStatus.queued.value)
        if channel is not None:
            query = query.where(ob.c.channel == channel)
        with self._write() as conn:
            rows = [_message(r) for r in conn.execute(query)]
            for message in rows:
                done = message.model_copy(update={"status": OutboxStatus.cancelled, "reason": reason})
                conn.execute(update(ob).where(ob.c.id == message.id).values(**_row(done)))
        return len(rows)

    def record_message_feedback(
        self, message_id: str, user_id: str, type: str, at: float, detail: Mapping[str, Any]
    ) -> None:
        with self._write() as conn:
            conn.execute(
                t.message_feedback.insert().values(
                    message_id=message_id,
                    user_id=user_id,
                    type=type,
                    at=at,
                    detail=json.dumps(dict(detail), sort_keys=True, separators=(",", ":")),
                )
            )

    def message_counts(self) -> dict[str, int]:
        ob = t.outbox
        with self.engine.connect() as conn:
            rows = conn.execute(select(ob.c.status, func.count()).group_by(ob.c.status))
            return {str(status): int(n) for status, n in rows}
