"""The audit log: who did what, when, without the data they touched.

Admin actions, policy overrides, key management, exports, erasures and retention runs are
recorded. People are referred to by a keyed hash of their id (see
:meth:`tactful.security.tokens.TokenSigner.subject_hash`), never by the id itself, so an
erasure leaves no trace of the person in the log.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from tactful.clock import Clock, from_epoch, to_epoch
from tactful.errors import ValidationError
from tactful.storage.protocol import AuditRecord, AuditStore

MAX_DETAILS_CHARS = 4096
ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class AuditEntry(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None = None
    details: dict[str, Any]


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_before: int | None = None


class AuditLog:
    """Appends and reads audit entries in the store."""

    def __init__(self, store: AuditStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def prepare(
        self, action: str, actor: str, subject: str | None = None, details: dict[str, Any] | None = None
    ) -> AuditRecord:
        """A checked, bounded entry stamped now, for the store to append (e.g. inside an erasure)."""
        if not ACTION_RE.match(action) or len(action) > 64:
            raise ValidationError(f"bad audit action {action!r}", field="action")
        text = json.dumps(details or {}, separators=(",", ":"), sort_keys=True, default=str)
        bounded: dict[str, Any] = (
            {"truncated": True, "size": len(text)} if len(text) > MAX_DETAILS_CHARS else json.loads(text)
        )
        return AuditRecord(
            at=to_epoch(self.clock.now()),
            actor=actor[:160],
            action=action,
            subject=None if subject is None else subject[:160],
            details=bounded,
        )

    def record(
        self, action: str, actor: str, subject: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        """Append one entry in its own transaction."""
        self.store.append_audit(self.prepare(action, actor, subject, details))

    def entries(self, limit: int = 100, before: int | None = None, action: str | None = None) -> AuditPage:
        """Newest first; page with ``before`` = the previous page's ``next_before``."""
        records = self.store.audit_records(limit + 1, before=before, action=action)
        entries = [
            AuditEntry(
                seq=r.seq,
                at=from_epoch(r.at),
                actor=r.actor,
                action=r.action,
                subject=r.subject,
                details=r.details,
            )
            for r in records[:limit]
        ]
        more = len(records) > limit
        return AuditPage(entries=entries, next_before=entries[-1].seq if more and entries else None)
