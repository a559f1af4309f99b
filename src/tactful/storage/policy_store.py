"""Durable state of the policy layer: promotions, promoted placements served, back-off counters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from tactful.clock import from_epoch
from tactful.policy.hints import BackoffCounter
from tactful.policy.promotions import ActivePromotion, Promotion
from tactful.storage import codec
from tactful.storage import schema as t
from tactful.storage.sql import SqlStore

LIST_FIELDS = ("items", "tags", "target_tags", "surfaces")


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


class PolicyStore:
    """Reads and writes of the policy tables, on the engine's :class:`SqlStore`."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # -- promotions ------------------------------------------------------------------------
    def insert_promotion(self, values: dict[str, Any], now: float) -> Promotion:
        row = {k: codec.dumps(v) if k in LIST_FIELDS else v for k, v in values.items()}
        with self.store.transaction() as conn:
            conn.execute(insert(t.promotions).values(**row))
        found = self.get_promotion(values["id"], now)
        assert found is not None
        return found

    def update_promotion(self, promotion_id: str, values: dict[str, Any], now: float) -> Promotion | None:
        row = {k: codec.dumps(v) if k in LIST_FIELDS else v for k, v in values.items()}
        with self.store.transaction() as conn:
            done = conn.execute(update(t.promotions).where(t.promotions.c.id == promotion_id).values(**row))
            if done.rowcount == 0:
                return None
        return self.get_promotion(promotion_id, now)

    def get_promotion(self, promotion_id: str, now: float) -> Promotion | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(t.promotions).where(t.promotions.c.id == promotion_id)).first()
        return None if row is None else _promotion(row, now)

    def list_promotions(self, now: float, include_ended: bool = True) -> list[Promotion]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(t.promotions).order_by(t.promotions.c.created_at, t.promotions.c.id))
            out = [_promotion(r, now) for r in rows]
        return out if include_ended else [p for p in out if p.status != "ended"]

    def active_promotions(self, now: float) -> list[ActivePromotion]:
        """Promotions not ended (scheduled ones included; ``live`` checks the time)."""
        cols = t.promotions.c
        query = select(t.promotions).where(cols.ended_at.is_(None))
        with self.store.engine.connect() as conn:
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
            if r.ends_at is None or r.ends_at > now
        ]

    # -- per-person ------------------------------------------------------------------------
    def exposures(self, user_id: str, promotion_ids: Sequence[str], since: float) -> dict[str, list[float]]:
        """Times of the person's promoted placements per promotion, since ``since``."""
        if not promotion_ids:
            return {}
        cols = t.promotion_exposures.c
        query = select(cols.promotion_id, cols.ts).where(
            cols.user_id == user_id, cols.promotion_id.in_(list(promotion_ids)), cols.ts > since
        )
        out: dict[str, list[float]] = {}
        with self.store.engine.connect() as conn:
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
    ) -> None:
        """Promoted placements and the updated back-off counter, in one transaction."""
        with self.store.transaction() as conn:
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
                row = {
                    "user_id": user_id,
                    "ignored_slots": counter.ignored_slots,
                    "counted_since": counter.counted_since,
                    "backoff_since": counter.backoff_since,
                    "updated_at": now,
                }
                self.store.upsert(conn, t.person_policy, [row], ["user_id"])

    def backoff(self, user_id: str) -> BackoffCounter:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(t.person_policy).where(t.person_policy.c.user_id == user_id)).first()
        if row is None:
            return BackoffCounter()
        return BackoffCounter(row.ignored_slots, row.counted_since, row.backoff_since)
