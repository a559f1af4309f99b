"""Erasure: remove one person everywhere, subtract them from counters, and audit it (P15)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel

from tactful.domain.event import Event, Provenance
from tactful.domain.stats import ItemStat
from tactful.errors import UnknownEventType
from tactful.privacy.artifacts import scrub_person
from tactful.security.audit import AuditLog
from tactful.signals.profile import decay
from tactful.signals.rules import SignalRules, ValueMode
from tactful.storage.protocol import PrivacyStore

EPSILON = 1e-9


class ErasureReport(BaseModel):
    """What an erasure removed (counts only: the erased data is gone)."""

    erased: bool
    rows: dict[str, int]
    counters_adjusted: int
    artifact_files: int
    database_files_scrubbed: bool = True
    """The database files hold no copy of the erased rows (SQLite: WAL checkpointed and truncated)."""
    seconds: float


def item_contributions(
    events: Iterable[tuple[str | None, str, float | None, float, str]], rules: SignalRules
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


def subtract_contributions(
    stats: Mapping[str, ItemStat], contributions: Mapping[str, list[float]], half_life_days: float
) -> tuple[list[ItemStat], list[str]]:
    """Item counters with the given contributions taken out: ``(changed, emptied)``.

    An item whose interactions drop to (about) zero is emptied (its counter row goes);
    otherwise one interaction per contribution and its decayed share of the trend are removed.
    """
    changed: list[ItemStat] = []
    emptied: list[str] = []
    for item_id in sorted(stats):
        stat = stats[item_id]
        times = contributions.get(item_id, [])
        interactions = stat.interactions - len(times)
        trend = stat.trend - sum(decay(1.0, at, stat.trend_ts, half_life_days) for at in times)
        if interactions <= EPSILON:
            emptied.append(item_id)
        else:
            changed.append(ItemStat(item_id, interactions, max(0.0, trend), stat.trend_ts))
    return changed, emptied


def erase_person(
    store: PrivacyStore,
    user_id: str,
    *,
    rules: SignalRules,
    trend_half_life_days: float,
    model_dir: Path,
    audit: AuditLog,
    subject: str,
    actor: str,
    erased_at: float | None = None,
    keep_tombstone_days: float = 30.0,
    on_commit: Callable[[], None] | None = None,
) -> ErasureReport:
    """Delete every row keyed by the person, subtract their events from item counters,
    drop their rows from model artifacts, and record the erasure under ``subject`` (a keyed
    hash, never the id). One transaction for the database part; then the database files are
    scrubbed (no copy left in a write-ahead log or freed pages) and the artifacts cleaned.

    The same transaction leaves a tombstone (``subject``, ``erased_at``): rows any worker
    produced for the person before then and still holds in a buffer are dropped when that
    worker writes them (see :class:`~tactful.storage.protocol.ErasureCheck`)."""
    started = time.perf_counter()
    at = time.time() if erased_at is None else erased_at
    with store.erasure(user_id) as tx:
        tx.add_tombstone(subject, at, at - keep_tombstone_days * 86_400.0)
        found = tx.events()
        contributions = item_contributions(
            ((e.item_id, e.type, e.value, e.ts, e.provenance) for e in found), rules
        )
        changed, emptied = subtract_contributions(
            tx.lock_item_stats(sorted(contributions)), contributions, trend_half_life_days
        )
        tx.save_item_stats(changed)
        tx.delete_item_stats(emptied)
        adjusted = len(changed) + len(emptied)
        rows = tx.erase_person_rows()
        if adjusted:
            tx.bump_catalog_version()  # every worker reloads item counters
        tx.count_erasure()  # a model being trained from input read before now is not published
        details = {"rows": rows, "counters_adjusted": adjusted}
        tx.append_audit(audit.prepare("person.erase", actor, subject=subject, details=details))
    # After the commit: an artifact saved before this point is scrubbed here, and a training
    # run that saves one later sees the erasure sequence move and trains again without them.
    scrubbed = scrub_person(model_dir, user_id)
    disk = store.scrub_disk()
    erased = any(rows.values()) or bool(scrubbed)
    if scrubbed or not disk:
        audit.record(
            "person.erase.files",
            actor,
            subject=subject,
            details={"artifact_files": len(scrubbed), "database_files_scrubbed": disk},
        )
    if on_commit is not None:
        on_commit()
    return ErasureReport(
        erased=erased,
        rows=dict(sorted(rows.items())),
        counters_adjusted=adjusted,
        artifact_files=len(scrubbed),
        database_files_scrubbed=disk,
        seconds=round(time.perf_counter() - started, 4),
    )
