"""API keys: scoped, stored only as a SHA-256 hash, created and revoked from the CLI."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from tactful.clock import Clock, from_epoch, to_epoch
from tactful.errors import NotFound, ValidationError
from tactful.storage.protocol import KeyRecord, KeyStore

KEY_PREFIX = "tk_"
_ID_BYTES = 6
_SECRET_BYTES = 32


class Scope(StrEnum):
    """What a credential may do. ``admin`` includes every other scope."""

    admin = "admin"
    ingest = "ingest"  # write catalog and events
    serve = "serve"  # read recommendations, similar and popular items
    profile = "profile"  # read and change people's profiles, consent, export and erase


class ApiKey(BaseModel):
    """A key as listed: never its secret."""

    id: str
    name: str
    scopes: list[Scope]
    rate_per_second: float | None = None
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class NewKey(BaseModel):
    """A freshly created key: ``secret`` is shown once and never stored."""

    key: ApiKey
    secret: str = Field(description="The full key to send as 'Authorization: Bearer <secret>'.")


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    out: list[Scope] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                scope = Scope(name)
            except ValueError:
                known = ", ".join(s.value for s in Scope)
                raise ValidationError(f"unknown scope {name!r}; known: {known}", field="scope") from None
            if scope not in out:
                out.append(scope)
    if not out:
        raise ValidationError("a key needs at least one scope", field="scope")
    return out


def hash_secret(secret: str) -> str:
    """Keys carry 256 random bits, so a plain SHA-256 is enough (no stretching needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyRing:
    """Creates, lists, revokes and verifies API keys in the store."""

    def __init__(self, store: KeyStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def create(self, name: str, scopes: Iterable[str], rate_per_second: float | None = None) -> NewKey:
        parsed = parse_scopes(scopes)
        name = name.strip()
        if not 1 <= len(name) <= 128 or not name.isprintable():
            raise ValidationError("name must be 1-128 printable characters", field="name")
        if rate_per_second is not None and not 0 < rate_per_second <= 1_000_000:
            raise ValidationError("rate must be between 0 and 1,000,000 per second", field="rate")
        key_id = secrets.token_hex(_ID_BYTES)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        record = KeyRecord(
            id=key_id,
            name=name,
            secret_hash=hash_secret(secret),
            scopes=tuple(s.value for s in parsed),
            rate_per_second=rate_per_second,
            created_at=to_epoch(self.clock.now()),
        )
        self.store.insert_key(record)
        return NewKey(key=_api_key(record), secret=secret)

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        return [_api_key(r) for r in self.store.list_keys(include_revoked=include_revoked)]

    def revoke(self, key_id: str) -> ApiKey:
        record = self.store.revoke_key(key_id, to_epoch(self.clock.now()))
        if record is None:
            raise NotFound(f"no API key {key_id!r}", field="key_id")
        return _api_key(record)

    def get(self, key_id: str) -> ApiKey:
        record = self.store.get_key(key_id)
        if record is None:
            raise NotFound(f"no API key {key_id!r}", field="key_id")
        return _api_key(record)

    def verify(self, secret: str) -> ApiKey | None:
        """The active key this secret belongs to, or None (constant-time hash comparison)."""
        key_id = key_id_of(secret)
        if key_id is None:
            return None
        record = self.store.get_key(key_id)
        if record is None or record.revoked_at is not None:
            return None
        if not hmac.compare_digest(record.secret_hash, hash_secret(secret)):
            return None
        return _api_key(record)


def key_id_of(secret: str) -> str | None:
    """The public id inside a key string, or None when it is not shaped like a key."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 128:
        return None
    key_id, sep, rest = secret[len(KEY_PREFIX) :].partition("_")
    if not sep or not rest or len(key_id) != _ID_BYTES * 2:
        return None
    if any(c not in "0123456789abcdef" for c in key_id):
        return None
    return key_id


def _api_key(record: KeyRecord) -> ApiKey:
    return ApiKey(
        id=record.id,
        name=record.name,
        scopes=[Scope(s) for s in record.scopes],
        rate_per_second=record.rate_per_second,
        created_at=from_epoch(record.created_at),
        revoked_at=None if record.revoked_at is None else from_epoch(record.revoked_at),
    )
