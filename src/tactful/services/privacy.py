"""The privacy service: export, erasure, retention, end-user tokens, audit (P15)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from tactful.clock import Clock, to_epoch
from tactful.config.settings import Settings
from tactful.domain.identifiers import ID_PATTERN
from tactful.errors import Unauthorized, ValidationError
from tactful.privacy.erasure import ErasureReport, erase_person
from tactful.privacy.export import PersonExport, export_person
from tactful.privacy.retention import RetentionReport, drop_old_events
from tactful.security.audit import AuditLog
from tactful.security.tokens import TOKEN_ID_PATTERN, TOKEN_PREFIX, TokenSigner, UserToken, load_secret
from tactful.services.served_log import RecommendationLog
from tactful.signals.rules import SignalRules
from tactful.storage.protocol import Store

_ID_RE = re.compile(ID_PATTERN)
_TOKEN_ID_RE = re.compile(TOKEN_ID_PATTERN)
MAX_TTL_SECONDS = 30 * 86400


@dataclass(frozen=True, slots=True)
class TokenRevocation:
    """What a revocation did: one token (``revoked`` 1, or 0 if it already was) or all of a
    person's tokens so far (``token_id`` and ``revoked`` None)."""

    user_id: str
    token_id: str | None
    revoked: int | None


_signer_lock = threading.Lock()


def _check_id(user_id: str) -> str:
    if not isinstance(user_id, str) or not _ID_RE.match(user_id):
        raise ValidationError("not a valid person id", field="user_id")
    return user_id


class PrivacyService:
    """Export, erasure, retention and end-user tokens, each audited (P15)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock,
        rules: SignalRules,
        served: RecommendationLog,
        forget: Callable[[str], None],
        audit: AuditLog,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.rules = rules
        self.served = served
        self.forget = forget
        self.audit = audit
        self._signer: TokenSigner | None = None

    @property
    def signer(self) -> TokenSigner:
        """Signs user tokens and hashes person ids for the audit log (the secret is read once)."""
        if self._signer is None:
            with _signer_lock:
                if self._signer is None:
                    self._signer = TokenSigner(load_secret(self.settings))
        return self._signer

    def issue_user_token(self, user_id: str, ttl_seconds: int | None = None) -> str:
        """A signed token that lets one person act on their own data until it expires or is
        revoked (:meth:`revoke_user_token`, :meth:`revoke_user_tokens`)."""
        ttl = self.settings.auth.token_ttl_seconds if ttl_seconds is None else ttl_seconds
        if not 60 <= ttl <= 30 * 86400:
            raise ValidationError("ttl_seconds must be between 60 and 2,592,000", field="ttl_seconds")
        generation, _ = self.store.token_state(self.signer.subject_hash(_check_id(user_id)), None)
        return self.signer.issue(user_id, self.clock.now(), timedelta(seconds=ttl), generation)

    def verify_user_token(self, token: str) -> UserToken:
        """The token's claims if it is genuine, unexpired and not revoked (one small query,
        so a revocation holds on every worker at once); else :class:`Unauthorized`."""
        claims = self.signer.verify(token, self.clock.now())
        generation, revoked = self.store.token_state(
            self.signer.subject_hash(claims.user_id), claims.token_id
        )
        if revoked or claims.generation < generation:
            raise Unauthorized("token revoked")
        return claims

    def revoke_user_token(
        self, token: str, user_id: str | None = None, actor: str = "python"
    ) -> TokenRevocation:
        """Revoke one token, given as the token itself or as its id (then name its person)."""
        if token.startswith(TOKEN_PREFIX):
            claims = self.signer.read(token)
            if user_id is not None and user_id != claims.user_id:
                raise ValidationError("that token belongs to another person", field="user_id")
            if claims.token_id is None:
                raise ValidationError(
                    "this token predates token ids: revoke all of its person's tokens instead", field="token"
                )
            person, token_id, expires = claims.user_id, claims.token_id, to_epoch(claims.expires_at)
        else:
            if user_id is None:
                raise ValidationError("name the person whose token this id is", field="user_id")
            if not _TOKEN_ID_RE.match(token):
                raise ValidationError("not a token id", field="token_id")
            person, token_id = _check_id(user_id), token
            expires = to_epoch(self.clock.now()) + MAX_TTL_SECONDS  # outlives any token with that id
        subject = self.signer.subject_hash(person)
        newly = self.store.revoke_token(token_id, subject, expires, to_epoch(self.clock.now()))
        self.audit.record("token.revoke", actor, subject=subject, details={"token_id": token_id})
        return TokenRevocation(user_id=person, token_id=token_id, revoked=1 if newly else 0)

    def revoke_user_tokens(self, user_id: str, actor: str = "python") -> TokenRevocation:
        """Revoke every token issued to the person so far (tokens issued afterwards work)."""
        subject = self.signer.subject_hash(_check_id(user_id))
        generation = self.store.bump_token_generation(subject, to_epoch(self.clock.now()))
        self.audit.record("token.revoke_all", actor, subject=subject, details={"generation": generation})
        return TokenRevocation(user_id=user_id, token_id=None, revoked=None)

    def export_person(self, user_id: str, actor: str = "python") -> PersonExport:
        """Everything stored about a person, as one JSON-ready bundle; the export is audited."""
        _check_id(user_id)
        self.served.flush()  # lists served a moment ago are part of what we store
        bundle = export_person(self.store, user_id, self.clock.now())
        self.audit.record(
            "person.export",
            actor,
            subject=self.signer.subject_hash(user_id),
            details={"rows": {name: len(rows) for name, rows in bundle.tables.items()}},
        )
        return bundle

    def erase_person(self, user_id: str, actor: str = "python") -> ErasureReport:
        """Remove the person from every table, counter and model artifact; audited by hash."""
        _check_id(user_id)
        self.served.flush()  # this worker's own buffer; other workers check the tombstone
        report = erase_person(
            self.store,
            user_id,
            rules=self.rules,
            trend_half_life_days=self.settings.scoring.trending_half_life_days,
            model_dir=self.settings.local_model_dir or self.settings.model_dir,
            audit=self.audit,
            subject=self.signer.subject_hash(user_id),
            actor=actor,
            erased_at=to_epoch(self.clock.now()),
            keep_tombstone_days=self.settings.serving.erasure_tombstone_days,
            on_commit=lambda: self.forget(user_id),
        )
        # the person's tokens out there open nothing any more (a token issued later works)
        self.store.bump_token_generation(self.signer.subject_hash(user_id), to_epoch(self.clock.now()))
        return report

    def drop_events_older_than(
        self, days: float, actor: str = "python", dry_run: bool = False
    ) -> RetentionReport:
        """Retention: delete raw events older than ``days``; profiles and counters stay."""
        return drop_old_events(self.store, self.clock.now(), days, self.audit, actor, dry_run)
