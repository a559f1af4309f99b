"""Retention: drop raw events older than a cutoff, keeping every aggregate built from them."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, func, select

from tactful.clock import to_epoch
from tactful.errors import ValidationError
from tactful.security.audit import AuditLog
from tactful.storage import schema as t
from tactful.storage.sql import SqlStore

BATCH = 20_000


class RetentionReport(BaseModel):
    cutoff: datetime
    events_deleted: int
    events_kept: int
    dry_run: bool


def drop_old_events(
    store: SqlStore, now: datetime, days: float, audit: AuditLog, actor: str, dry_run: bool = False
) -> RetentionReport:
    """Delete events with a timestamp before ``now - days``, in batches of short transactions.

    Profiles (interests, per-item state), person records and item counters are left as they
    are, so recommendations do not change; trained model artifacts are not touched either.
    """
    if not 0 < days <= 36_500:
        raise ValidationError("days must be between 0 and 36,500", field="days")
    cutoff = now - timedelta(days=days)
    edge = to_epoch(cutoff)
    ev = t.events.c
    deleted = 0
    if dry_run:
        with store.engine.connect() as conn:
            deleted = int(conn.execute(select(func.count()).where(ev.ts < edge)).scalar() or 0)
    else:
        while True:
            with store.transaction() as conn:
                seqs = list(conn.execute(select(ev.seq).where(ev.ts < edge).limit(BATCH)).scalars())
                if not seqs:
                    break
                for start in range(0, len(seqs), 1000):
                    conn.execute(delete(t.events).where(ev.seq.in_(seqs[start : start + 1000])))
                deleted += len(seqs)
    kept = store.count("events")
    report = RetentionReport(cutoff=cutoff, events_deleted=deleted, events_kept=kept, dry_run=dry_run)
    if not dry_run:
        audit.record(
            "retention.run",
            actor,
            details={"days": days, "cutoff": cutoff.isoformat(), "events_deleted": deleted},
        )
    return report
