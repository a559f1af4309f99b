"""Erasure: remove one person everywhere, subtract them from counters, and audit it (P15)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import Connection, delete, select

from tactful.domain.event import Event, Provenance
from tactful.errors import UnknownEventType
from tactful.privacy.artifacts import scrub_person
from tactful.privacy.export import person_column, person_tables
from tactful.security.audit import AuditLog
from tactful.signals.profile import decay
from tactful.signals.rules import SignalRules, ValueMode
from tactful.storage import schema as t
from tactful.storage.sql import CHUNK, SqlStore

EPSILON = 1e-9


class ErasureReport(BaseModel):
    """What an erasure removed (counts only: the erased data is gone)."""

    erased: bool
    rows: dict[str, int]
    counters_adjusted: int
    artifact_files: int
    seconds: float


def item_contributions(
    events: list[tuple[str | None, str, float | None, float, str]], rules: SignalRules
) -> dict[str, list[float]]:
    """Per item, the times of the events that added to its counters when ingested.

    Mirrors :class:`~tactful.services.ingest.Ingestor`: a positive signal that is not
    ``inferred`` adds one interaction and one unit of (decaying) trend.
    """
    out: dict[str, list[float]] = defaultdict(list)
    counted: dict[tuple[str, float | None, str], bool] = {}  # the signal depends on these alone
    for item_id, type_, value, ts, provenance in events:
        if item_id is None:
            continue
        rule = rules.rules.get(type_)
        key = (type_, None if rule is None or rule.mode is ValueMode.fixed else value, provenance)
        adds = counted.get(key)
        if adds is None:
            event = Event.model_construct(
                user_id="-", item_id=item_id, type=type_, value=value, provenance=Provenance(provenance)
            )
            try:
                signal = rules.interpret(event)
            except UnknownEventType:  # a type whose rule was removed since: it added nothing known
                adds = False
            else:
                adds = signal.positive and signal.provenance != Provenance.inferred
            counted[key] = adds
        if adds:
            out[item_id].append(ts)
    return out


def _subtract_counters(
    conn: Connection, store: SqlStore, contributions: dict[str, list[float]], half_life_days: float
) -> int:
    stats = t.item_stats
    ids = sorted(contributions)
    changed = 0
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        query = select(stats).where(stats.c.item_id.in_(part))
        if not store.is_sqlite:
            query = query.order_by(stats.c.item_id).with_for_update()
        rows = []
        gone = []
        for row in conn.execute(query):
            times = contributions[row.item_id]
            interactions = row.interactions - len(times)
            trend = row.trend - sum(decay(1.0, at, row.trend_ts, half_life_days) for at in times)
            if interactions <= EPSILON:
                gone.append(row.item_id)
            else:
                rows.append(
                    {
                        "item_id": row.item_id,
                        "interactions": interactions,
                        "trend": max(0.0, trend),
                        "trend_ts": row.trend_ts,
                    }
                )
        if gone:
            conn.execute(delete(stats).where(stats.c.item_id.in_(gone)))
        if rows:
            store.upsert(conn, stats, rows, ["item_id"])
        changed += len(rows) + len(gone)
    return changed


def erase_person(
    store: SqlStore,
    user_id: str,
    *,
    rules: SignalRules,
    trend_half_life_days: float,
    model_dir: Path,
    audit: AuditLog,
    subject: str,
    actor: str,
    on_commit: Callable[[], None] | None = None,
) -> ErasureReport:
    """Delete every row keyed by the person, subtract their events from item counters,
    drop their rows from model artifacts, and record the erasure under ``subject`` (a keyed
    hash, never the id). One transaction for the database part."""
    started = time.perf_counter()
    scrubbed = scrub_person(model_dir, user_id)
    ev = t.events.c
    with store.transaction() as conn:
        found = conn.execute(
            select(ev.item_id, ev.type, ev.value, ev.ts, ev.provenance).where(ev.user_id == user_id)
        ).all()
        contributions = item_contributions([tuple(r) for r in found], rules)  # type: ignore[misc]
        adjusted = _subtract_counters(conn, store, contributions, trend_half_life_days)
        rows: dict[str, int] = {}
        for table in reversed(person_tables()):
            rows[table.name] = conn.execute(delete(table).where(person_column(table) == user_id)).rowcount
        if adjusted:
            store._bump_catalog(conn)  # every worker reloads item counters
        erased = any(rows.values()) or bool(scrubbed)
        details = {"rows": rows, "counters_adjusted": adjusted, "artifact_files": len(scrubbed)}
        audit.record("person.erase", actor, subject=subject, details=details, conn=conn)
    if on_commit is not None:
        on_commit()
    return ErasureReport(
        erased=erased,
        rows=dict(sorted(rows.items())),
        counters_adjusted=adjusted,
        artifact_files=len(scrubbed),
        seconds=round(time.perf_counter() - started, 4),
    )
