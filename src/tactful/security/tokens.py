"""End-user tokens: HMAC-signed, expiring, scoped to one person.

A token carries its id (``jti``) and the person's token generation (``gen``) when it was
issued. Tokens are not stored; revocation is (see :class:`~tactful.storage.protocol.TokenStore`):
revoking one token records its id, revoking a person's tokens moves their generation on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tactful.clock import from_epoch, to_epoch
from tactful.config.settings import Settings
from tactful.domain.identifiers import ID_PATTERN
from tactful.errors import Unauthorized, ValidationError

TOKEN_PREFIX = "tut_"
MAX_TOKEN_LENGTH = 1024
SECRET_FILE = "secret.key"
_DOMAIN = b"tactful-user-token/1:"
_ID_RE = re.compile(ID_PATTERN)
TOKEN_ID_PATTERN = r"^[A-Za-z0-9_\-]{8,64}$"
_TOKEN_ID_RE = re.compile(TOKEN_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class UserToken:
    """What a verified token says: whose it is and until when."""

    user_id: str
    issued_at: datetime
    expires_at: datetime
    token_id: str | None = None  # tokens issued before revocation existed carry none
    generation: int = 0


def load_secret(settings: Settings) -> bytes:
    """The signing secret: from settings, else ``<data_dir>/secret.key`` (created once, mode 0600)."""
    if settings.auth.token_secret is not None:
        value = settings.auth.token_secret.get_secret_value().encode()
        if len(value) < 16:
            raise ValidationError(
                "auth.token_secret must be at least 16 characters", field="auth.token_secret"
            )
        return value
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32))
        fh.flush()
        os.fsync(fh.fileno())
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    for _ in range(50):  # another worker may be between create and write
        value = path.read_text().strip()
        if value:
            return value.encode()
        time.sleep(0.01)
    raise ValidationError(f"{path} is empty; delete it to generate a new secret", field="auth.token_secret")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies user tokens with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, _DOMAIN + payload.encode(), hashlib.sha256).digest())

    def issue(self, user_id: str, now: datetime, ttl: timedelta, generation: int = 0) -> str:
        if not _ID_RE.match(user_id):
            raise ValidationError("not a valid person id", field="user_id")
        if ttl.total_seconds() <= 0:
            raise ValidationError("ttl must be positive", field="ttl")
        iat = int(to_epoch(now))
        body = {
            "sub": user_id,
            "iat": iat,
            "exp": iat + int(ttl.total_seconds()),
            "jti": secrets.token_urlsafe(12),
            "gen": generation,
        }
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        return f"{TOKEN_PREFIX}{payload}.{self._sign(payload)}"

    def verify(self, token: str, now: datetime) -> UserToken:
        """The token's claims; :class:`Unauthorized` when malformed, tampered with or expired."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthorized("not a user token")
        payload, sep, signature = token[len(TOKEN_PREFIX) :].partition(".")
        if not sep or not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise Unauthorized("invalid token signature")
        try:
            body = json.loads(_unb64(payload))
            user_id, iat, exp = body["sub"], body["iat"], body["exp"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise Unauthorized("malformed token") from None
        if not isinstance(user_id, str) or not _ID_RE.match(user_id):
            raise Unauthorized("malformed token")
        token_id, generation = body.get("jti"), body.get("gen", 0)
        if not isinstance(exp, int) or not isinstance(iat, int):
            raise Unauthorized("malformed token")
        if token_id is not None and (not isinstance(token_id, str) or not _TOKEN_ID_RE.match(token_id)):
            raise Unauthorized("malformed token")
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise Unauthorized("malformed token")
        if to_epoch(now) >= exp:
            raise Unauthorized("token expired")
        return UserToken(user_id, from_epoch(iat), from_epoch(exp), token_id, generation)

    def read(self, token: str) -> UserToken:
        """The claims of a token this signer issued, expired or not (to revoke it by value)."""
        return self.verify(token, from_epoch(0))

    def mac(self, purpose: str, payload: str) -> str:
        """A keyed MAC of ``payload`` for one ``purpose`` (the pages' sessions and CSRF tokens,
        signed links in messages), kept apart from tokens and subject hashes by its domain."""
        message = b"tactful-" + purpose.encode() + b"/1:" + payload.encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())

    def link_mac(self, purpose: str, payload: str) -> str:
        """The MAC of a signed link in a message (an unsubscribe or restore link)."""
        return self.mac("link-" + purpose, payload)

    def subject_hash(self, user_id: str) -> str:
        """A keyed hash of a person id: lets the audit log refer to someone without naming them."""
        digest = hmac.new(self._secret, b"tactful-subject/1:" + user_id.encode(), hashlib.sha256)
        return "h:" + digest.hexdigest()[:32]
