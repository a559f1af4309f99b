"""The SQL backend's :class:`~tactful.storage.protocol.PolicyStore`: freshness, promotions,
promoted exposures and back-off counters."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from tactful.clock import from_epoch
from tactful.errors import Conflict, StorageError
from tactful.policy.hints import BackoffCounter
from tactful.policy.promotions import ActivePromotion, Promotion
from tactful.storage import codec
from tactful.storage import schema as t
from tactful.storage.protocol import PROMOTION_FIELDS, ErasureCheck, Freshness, PromotionFields
from tactful.storage.sql_base import CATALOG_VERSION, SqlBase
from tactful.storage.sql_privacy import erased_after

LIST_FIELDS = ("items", "tags", "target_tags", "surfaces")
PROMOTIONS_VERSION = "promotions_version"
"""``meta`` key bumped in every transaction that changes a promotion (workers cache promotions by it)."""


def _freshness_sql(mark: str) -> str:
    return (
        f"SELECT (SELECT value FROM meta WHERE key = '{CATALOG_VERSION}'), "
        f"(SELECT version FROM persons WHERE id = {mark}), "
        f"(SELECT value FROM meta WHERE key = '{PROMOTIONS_VERSION}'), "
        "pp.ignored_slots, pp.counted_since, pp.backoff_since, pp.visit_start, pp.visit_slots "
        f"FROM (SELECT 1 AS one) AS one LEFT JOIN person_policy AS pp ON pp.user_id = {mark}"
    )


_FRESHNESS_SQL = {True: _freshness_sql("?"), False: _freshness_sql("%s")}


def promotion_status(row: Any, now: float) -> str:
    if row.ended_at is not None or (row.ends_at is not None and row.ends_at <= now):
        return "ended"
    return "scheduled" if row.starts_at > now else "active"


def _promotion(row: Any, now: float) -> Promotion:
    return Promotion(
        id=row.id,
        name=row.name,
        items=json.loads(row.items),
        tags=json.loads(row.tags),
        target_tags=json.loads(row.target_tags),
        surfaces=json.loads(row.surfaces),
        cap=row.cap,
        window_days=row.window_days,
        starts_at=from_epoch(row.starts_at),
        ends_at=None if row.ends_at is None else from_epoch(row.ends_at),
        ended_at=None if row.ended_at is None else from_epoch(row.ended_at),
        created_at=from_epoch(row.created_at),
        updated_at=from_epoch(row.updated_at),
        status=promotion_status(row, now),
    )


def _promotion_row(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - PROMOTION_FIELDS
    if unknown:
        raise ValueError(f"not promotion fields: {sorted(unknown)}")
    return {k: codec.dumps(list(v)) if k in LIST_FIELDS else v for k, v in values.items()}


class SqlPolicy(SqlBase):
    """Reads and writes of the policy tables."""

    def freshness(self, user_id: str) -> Freshness:
        """Catalog, person and promotions versions and the back-off counter, in one query.

        Every request runs this, so it goes straight to a DBAPI connection: the statement is
        fixed text, and SQLAlchemy's per-statement work would cost several times the query
        itself. On PostgreSQL that is this thread's own autocommit connection (one round
        trip, see :mod:`~tactful.storage.hot_reads`), on SQLite a pooled one.
        """
        engine = self.engine
        try:
            if self._hot is not None:
                row = self._hot.fetchone(_FRESHNESS_SQL[False], (user_id, user_id), self._pooled_fetchone)
            else:
                row = self._pooled_fetchone(_FRESHNESS_SQL[True], (user_id, user_id))
        except engine.dialect.loaded_dbapi.Error as exc:
            raise StorageError(f"database unavailable: {exc}") from exc
        if row is None:  # cannot happen: the query selects from a one-row table
            raise StorageError("the freshness query returned no row")
        backoff = BackoffCounter()
        if row[3] is not None:
            backoff = BackoffCounter(row[3], row[4], row[5], row[6], row[7] or 0)
        return Freshness(int(row[0] or 0), row[1], int(row[2] or 0), backoff)

    def _pooled_fetchone(self, sql: str, params: Sequence[Any]) -> Any:
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql, params)
                return cursor.fetchone()
            finally:
                cursor.close()
        finally:
            conn.close()

    def _bump_promotions(self, conn: Connection) -> None:
        self._bump_meta(conn, PROMOTIONS_VERSION)

    # -- promotions ------------------------------------------------------------------------
    def insert_promotion(self, values: PromotionFields, now: float) -> Promotion:
        row = _promotion_row(values)
        try:
            with self._write() as conn:
                conn.execute(insert(t.promotions).values(**row))
                self._bump_promotions(conn)
        except IntegrityError:
            raise Conflict(f"promotion {values['id']!r} exists", field="id") from None
        found = self.get_promotion(values["id"], now)
        assert found is not None
        return found

    def update_promotion(self, promotion_id: str, values: Mapping[str, Any], now: float) -> Promotion | None:
        row = _promotion_row({k: v for k, v in values.items() if k != "id"})
        with self._write() as conn:
            if row:
                where = t.promotions.c.id == promotion_id
                if conn.execute(update(t.promotions).where(where).values(**row)).rowcount == 0:
                    return None
                self._bump_promotions(conn)
        return self.get_promotion(promotion_id, now)

    def get_promotion(self, promotion_id: str, now: float) -> Promotion | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.promotions).where(t.promotions.c.id == promotion_id)).first()
        return None if row is None else _promotion(row, now)

    def list_promotions(self, now: float, include_ended: bool = True) -> list[Promotion]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.promotions).order_by(t.promotions.c.created_at, t.promotions.c.id))
            out = [_promotion(r, now) for r in rows]
        return out if include_ended else [p for p in out if p.status != "ended"]

    def active_promotions(self, now: float | None = None) -> list[ActivePromotion]:
        query = select(t.promotions).where(t.promotions.c.ended_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            ActivePromotion(
                id=r.id,
                name=r.name,
                items=tuple(json.loads(r.items)),
                tags=tuple(json.loads(r.tags)),
                target_tags=frozenset(json.loads(r.target_tags)),
                surfaces=frozenset(json.loads(r.surfaces)),
                cap=r.cap,
                window_days=r.window_days,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
            )
            for r in rows
            if now is None or r.ends_at is None or r.ends_at > now
        ]

    # -- per-person ------------------------------------------------------------------------
    def exposures(self, user_id: str, promotion_ids: Sequence[str], since: float) -> dict[str, list[float]]:
        if not promotion_ids:
            return {}
        cols = t.promotion_exposures.c
        query = select(cols.promotion_id, cols.ts).where(
            cols.user_id == user_id, cols.promotion_id.in_(list(promotion_ids)), cols.ts > since
        )
        out: dict[str, list[float]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                out.setdefault(r.promotion_id, []).append(r.ts)
        return out

    def record_served(
        self,
        user_id: str,
        rec_id: str,
        placements: Sequence[tuple[str, str]],
        counter: BackoffCounter | None,
        now: float,
        check: ErasureCheck | None = None,
    ) -> None:
        if not placements and counter is None:
            return
        with self._write() as conn:
            if erased_after(conn, self.is_sqlite, check, [(user_id, now)]):
                return  # the person was erased while this list was being made
            if placements:
                conn.execute(
                    insert(t.promotion_exposures),
                    [
                        {
                            "promotion_id": pid,
                            "user_id": user_id,
                            "item_id": item,
                            "ts": now,
                            "recommendation_id": rec_id,
                        }
                        for pid, item in placements
                    ],
                )
            if counter is not None:
                self._upsert_backoff(conn, [(user_id, counter, now)])

    def save_backoff(
        self, counters: Sequence[tuple[str, BackoffCounter, float]], check: ErasureCheck | None = None
    ) -> int:
        if not counters:
            return 0
        with self._write() as conn:
            erased = erased_after(conn, self.is_sqlite, check, [(user, at) for user, _, at in counters])
            kept = [row for row in counters if (row[0], row[2]) not in erased]
            self._upsert_backoff(conn, kept)
        return len(kept)

    def _upsert_backoff(
        self, conn: Connection, counters: Sequence[tuple[str, BackoffCounter, float]]
    ) -> None:
        rows = [
            {
                "user_id": user_id,
                "ignored_slots": c.ignored_slots,
                "counted_since": c.counted_since,
                "backoff_since": c.backoff_since,
                "updated_at": at,
                "visit_start": c.visit_start,
                "visit_slots": c.visit_slots,
            }
            for user_id, c, at in counters
        ]
        # newest wins: several workers write the counters they buffered in any order
        self.upsert(conn, t.person_policy, rows, ["user_id"], newer="updated_at")

    def backoff(self, user_id: str) -> BackoffCounter:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.person_policy).where(t.person_policy.c.user_id == user_id)).first()
        if row is None:
            return BackoffCounter()
        return BackoffCounter(
            row.ignored_slots, row.counted_since, row.backoff_since, row.visit_start, row.visit_slots or 0
        )
