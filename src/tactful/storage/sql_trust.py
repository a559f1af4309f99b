"""The SQL backend's :class:`~tactful.storage.protocol.KeyStore` and
:class:`~tactful.storage.protocol.AuditStore`: API keys and the audit log."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

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

    # -- end-user token revocation --------------------------------------------------------
    def token_state(self, subject: str, token_id: str | None) -> tuple[int, bool]:
        gens, revoked = t.token_generations.c, t.revoked_tokens.c
        with self.engine.connect() as conn:
            generation = conn.execute(select(gens.generation).where(gens.subject == subject)).scalar()
            hit = None
            if token_id is not None:
                query = select(revoked.token_id).where(
                    revoked.token_id == token_id, revoked.subject == subject
                )
                hit = conn.execute(query).first()
        return int(generation or 0), hit is not None

    def bump_token_generation(self, subject: str, at: float) -> int:
        gens = t.token_generations.c
        insert_for = sqlite_insert if self.is_sqlite else pg_insert
        stmt = insert_for(t.token_generations).values(subject=subject, generation=1, updated_at=at)
        stmt = stmt.on_conflict_do_update(  # atomic on both backends, however many callers
            index_elements=["subject"],
            set_={"generation": t.token_generations.c.generation + 1, "updated_at": at},
        )
        with self._write() as conn:
            conn.execute(stmt)
            generation = conn.execute(select(gens.generation).where(gens.subject == subject)).scalar_one()
        return int(generation)

    def revoke_token(self, token_id: str, subject: str, expires_at: float, at: float) -> bool:
        insert_for = sqlite_insert if self.is_sqlite else pg_insert
        stmt = insert_for(t.revoked_tokens).values(
            token_id=token_id, subject=subject, expires_at=expires_at, revoked_at=at
        )
        with self._write() as conn:
            conn.execute(delete(t.revoked_tokens).where(t.revoked_tokens.c.expires_at < at))
            added = conn.execute(
                stmt.on_conflict_do_nothing(index_elements=["token_id", "subject"]).returning(
                    t.revoked_tokens.c.token_id
                )
            ).first()
        return added is not None

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
