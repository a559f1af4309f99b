"""Retention: drop raw events older than a cutoff, keeping every aggregate built from them."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from tactful.clock import to_epoch
from tactful.errors import ValidationError
from tactful.security.audit import AuditLog
from tactful.storage.protocol import PrivacyStore


class RetentionReport(BaseModel):
    cutoff: datetime
    events_deleted: int
    events_kept: int
    dry_run: bool


def drop_old_events(
    store: PrivacyStore, now: datetime, days: float, audit: AuditLog, actor: str, dry_run: bool = False
) -> RetentionReport:
    """Delete events with a timestamp before ``now - days``, in batches of short transactions.

    Profiles (interests, per-item state), person records and item counters are left as they
    are, so recommendations do not change; trained model artifacts are not touched either.
    """
    if not 0 < days <= 36_500:
        raise ValidationError("days must be between 0 and 36,500", field="days")
    cutoff = now - timedelta(days=days)
    dropped = store.drop_events_before(to_epoch(cutoff), dry_run=dry_run)
    deleted, kept = dropped.deleted, dropped.kept
    report = RetentionReport(cutoff=cutoff, events_deleted=deleted, events_kept=kept, dry_run=dry_run)
    if not dry_run:
        audit.record(
            "retention.run",
            actor,
            details={"days": days, "cutoff": cutoff.isoformat(), "events_deleted": deleted},
        )
    return report
