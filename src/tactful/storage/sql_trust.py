"""The SQL backend's :class:`~tactful.storage.protocol.KeyStore` and
:class:`~tactful.storage.protocol.AuditStore`: API keys and the audit log."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tactful.storage import schema as t
from tactful.storage.protocol import AuditRecord, KeyRecord, StoredAuditRecord
from tactful.storage.sql_base import SqlBase


def _row_key(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        name=row.name,
        secret_hash=row.secret_hash,
        scopes=tuple(s for s in row.scopes.split(",") if s),
        rate_per_second=row.rate_per_second,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def insert_audit(conn: Connection, record: AuditRecord) -> None:
    """Append one audit entry inside the caller's transaction."""
    details = json.dumps(record.details, separators=(",", ":"), sort_keys=True, default=str)
    conn.execute(
        insert(t.audit_log).values(
            at=record.at, actor=record.actor, action=record.action, subject=record.subject, details=details
        )
    )


class SqlTrust(SqlBase):
    """API keys (hashes only) and the append-only audit log."""

    # -- keys ------------------------------------------------------------------------------
    def insert_key(self, key: KeyRecord) -> None:
        with self._write() as conn:
            conn.execute(
                insert(t.api_keys).values(
                    id=key.id,
                    name=key.name,
                    secret_hash=key.secret_hash,
                    scopes=",".join(key.scopes),
                    rate_per_second=key.rate_per_second,
                    created_at=key.created_at,
                    revoked_at=key.revoked_at,
                )
            )

    def get_key(self, key_id: str) -> KeyRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first()
        return None if row is None else _row_key(row)

    def list_keys(self, include_revoked: bool = False) -> list[KeyRecord]:
        query = select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.id)
        if not include_revoked:
            query = query.where(t.api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_row_key(r) for r in conn.execute(query)]

    def revoke_key(self, key_id: str, at: float) -> KeyRecord | None:
        keys = t.api_keys.c
        with self._write() as conn:
            live = update(t.api_keys).where(keys.id == key_id, keys.revoked_at.is_(None))
            conn.execute(live.values(revoked_at=at))
            row = conn.execute(select(t.api_keys).where(keys.id == key_id)).first()
        return None if row is None else _row_key(row)

    # -- audit -----------------------------------------------------------------------------
    def append_audit(self, record: AuditRecord) -> None:
        with self._write() as conn:
            insert_audit(conn, record)

    def audit_records(
        self, limit: int, before: int | None = None, action: str | None = None
    ) -> list[StoredAuditRecord]:
        cols = t.audit_log.c
        query = select(t.audit_log).order_by(cols.seq.desc()).limit(limit)
        if before is not None:
            query = query.where(cols.seq < before)
        if action is not None:
            query = query.where(cols.action == action)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            StoredAuditRecord(r.at, r.actor, r.action, r.subject, json.loads(r.details), seq=r.seq)
            for r in rows
        ]
