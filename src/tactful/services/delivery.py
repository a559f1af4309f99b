"""Delivery workers: take due messages from the outbox and hand them to a transport.

- **Webhook** (push, in-app, and email when no SMTP server is set): an HTTP POST of the
  message as JSON, signed: ``X-Tactful-Timestamp`` (Unix seconds) and
  ``X-Tactful-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``. A receiver checks
  it with :func:`verify_signature` (constant-time, with a freshness tolerance).
- **SMTP**: a multipart text + HTML email rendered from the Jinja2 templates beside this
  module, with ``List-Unsubscribe`` (the signed one-click link) and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058).

A failed attempt is retried on the outbox's own schedule: exponential back-off from
``retry_base_seconds`` (doubling, at most ``retry_max_seconds``) with seeded "equal
jitter" (half the delay fixed, half random), and abandoned once it is still failing
``abandon_after_hours`` (72 h) after it was due. A receiver's 4xx other than 408/429 is
permanent and abandons at once. Before each attempt the message is checked against the
person's preferences *now*: a channel dropped or suppressed, or topics unsubscribed,
cancel it (unsubscribe takes effect immediately); a window, quiet hours or a pause that
now forbids sending defers it to the next allowed time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from pathlib import Path
from typing import Protocol

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel

from tactful.clock import Clock, to_epoch
from tactful.config.messaging import MessagingSettings
from tactful.domain.messages import Channel, MessagePreferences, MessageState, OutboxMessage, OutboxStatus
from tactful.policy.schedule import Schedule, Verdict, allowed, local_day, next_allowed
from tactful.services.messaging import MessagingService
from tactful.storage.protocol import StoredPreferences

SIGNATURE_HEADER = "X-Tactful-Signature"
TIMESTAMP_HEADER = "X-Tactful-Timestamp"
LEASE_SECONDS = 300.0
_TEMPLATES = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(["html"]),
    keep_trailing_newline=True,
)


class DeliveryError(Exception):
    """A failed attempt; ``permanent`` ones are not retried."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    def send(self, message: OutboxMessage, stored: StoredPreferences, now: datetime) -> None: ...


# -- signatures --------------------------------------------------------------------------------


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for a body sent at ``timestamp``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    secret: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance_seconds: float = 300.0
) -> bool:
    """Whether a webhook post is authentic and fresh (for receivers; headers case-insensitive)."""
    lower = {k.lower(): v for k, v in headers.items()}
    stamp, given = lower.get(TIMESTAMP_HEADER.lower()), lower.get(SIGNATURE_HEADER.lower())
    if stamp is None or given is None or not stamp.isdigit():
        return False
    if abs(now - int(stamp)) > tolerance_seconds:
        return False
    return hmac.compare_digest(given.encode(), sign(secret, int(stamp), body).encode())


def payload(message: OutboxMessage) -> bytes:
    body = message.model_dump(
        mode="json",
        include={
            "id",
            "key",
            "user_id",
            "channel",
            "period",
            "kind",
            "topics",
            "items",
            "notes",
            "links",
            "subject",
            "text",
        },
        exclude_none=True,
    )
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


class WebhookTransport:
    """POSTs the message as JSON, signed with HMAC-SHA256 over the timestamp and body."""

    def __init__(self, url: str, secret: bytes, timeout: float) -> None:
        self.url, self.secret, self.timeout = url, secret, timeout

    def send(self, message: OutboxMessage, stored: StoredPreferences, now: datetime) -> None:
        body = payload(message)
        stamp = int(to_epoch(now))
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: str(stamp),
                SIGNATURE_HEADER: sign(self.secret, stamp, body),
                "Idempotency-Key": message.key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (operator's URL)
                response.read()
        except urllib.error.HTTPError as exc:
            permanent = 400 <= exc.code < 500 and exc.code not in (408, 429)
            raise DeliveryError(f"webhook answered {exc.code}", permanent=permanent) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"webhook unreachable: {exc}") from None


def render_email(message: OutboxMessage, stored: StoredPreferences, sender: str) -> EmailMessage:
    """The digest as a multipart email with RFC 8058 one-click unsubscribe headers."""
    topics = ", ".join(message.topics)
    if message.kind == "required":
        subject = message.subject or "A message about your account"
    else:
        subject = "Your digest" if message.kind == "personal" else "Popular picks (a general digest)"
    lowered = stored.state.lowered_from
    context = {
        "subject": subject,
        "message": message,
        "topics": topics,
        "channel": message.channel.value.replace("_", "-"),
        "unsubscribe_url": message.links.get("unsubscribe", ""),
        "topic_links": [
            (t, message.links[f"unsubscribe:{t}"])
            for t in message.topics
            if f"unsubscribe:{t}" in message.links
        ],
        "restore_url": message.links.get("restore"),
        "lowered_from": lowered.describe() if lowered else "",
    }
    # RFC 5322 allows 998-character lines: a long one-click URL stays one unencoded line
    mail = EmailMessage(policy=SMTP.clone(max_line_length=998))
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = stored.prefs.email or ""
    mail["Message-ID"] = make_msgid(idstring=message.id)
    one_click = message.links.get(f"unsubscribe:{message.topics[0]}") if len(message.topics) == 1 else None
    mail["List-Unsubscribe"] = f"<{one_click or message.links.get('unsubscribe', '')}>"
    mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail["X-Tactful-Message"] = message.id
    template = "required" if message.kind == "required" else "digest"
    mail.set_content(_TEMPLATES.get_template(f"{template}.txt").render(context))
    mail.add_alternative(_TEMPLATES.get_template(f"{template}.html").render(context), subtype="html")
    return mail


class SmtpTransport:
    """Sends email digests through an SMTP server."""

    def __init__(self, host: str, port: int, sender: str, timeout: float = 30.0) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout

    def send(self, message: OutboxMessage, stored: StoredPreferences, now: datetime) -> None:
        if not stored.prefs.email:
            raise DeliveryError("no email address", permanent=True)
        mail = render_email(message, stored, self.sender)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused: {exc.recipients}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP failed: {exc}") from None


class DeliveryReport(BaseModel):
    now: datetime
    claimed: int
    sent: int
    deferred: int
    retried: int
    abandoned: int
    cancelled: int
    details: list[dict[str, str]]


def retry_delay(settings: MessagingSettings, message_id: str, attempts: int) -> float:
    """Exponential back-off with seeded equal jitter for the ``attempts``-th failure (1-based)."""
    base = min(settings.retry_base_seconds * 2 ** (attempts - 1), settings.retry_max_seconds)
    rng = random.Random(f"{settings.seed}:{message_id}:{attempts}")
    return base / 2 + rng.uniform(0, base / 2)


class DeliveryService:
    """Runs delivery attempts for due outbox messages."""

    def __init__(
        self,
        messaging: MessagingService,
        settings: MessagingSettings,
        clock: Clock,
        transports: Mapping[Channel, Transport] | None = None,
        respect: bool = True,
    ) -> None:
        self.messaging = messaging
        self.store = messaging.store
        self.settings = settings
        self.clock = clock
        self.respect = respect
        self.transports: dict[Channel, Transport] = (
            dict(transports) if transports is not None else self._configured()
        )

    def _configured(self) -> dict[Channel, Transport]:
        s = self.settings
        out: dict[Channel, Transport] = {}
        if s.webhook_url:
            secret = s.webhook_secret.get_secret_value().encode() if s.webhook_secret else b""
            hook = WebhookTransport(s.webhook_url, secret, s.webhook_timeout_seconds)
            out = {Channel.push: hook, Channel.in_app: hook, Channel.email: hook}
        if s.smtp_host:
            out[Channel.email] = SmtpTransport(s.smtp_host, s.smtp_port, s.sender)
        return out

    def send(
        self,
        now: datetime | None = None,
        limit: int = 500,
        on_sent: Callable[[OutboxMessage], None] | None = None,
    ) -> DeliveryReport:
        """One pass: attempt every message due at ``now`` (at most ``limit``)."""
        now = now or self.clock.now()
        claimed = self.store.claim_messages(to_epoch(now), limit, LEASE_SECONDS)
        counts = {"sent": 0, "deferred": 0, "retried": 0, "abandoned": 0, "cancelled": 0}
        details: list[dict[str, str]] = []
        prefs = self.store.load_message_prefs(sorted({m.user_id for m in claimed}))
        for message in claimed:
            stored = prefs.get(message.user_id)
            outcome, why = self._attempt(message, stored, now, on_sent)
            counts[outcome] += 1
            details.append(
                {"message_id": message.id, "user_id": message.user_id, "outcome": outcome, "reason": why}
            )
            if outcome == "sent" and stored is not None:
                prefs.update(self.store.load_message_prefs([message.user_id]))
        return DeliveryReport(now=now, claimed=len(claimed), details=details, **counts)

    def _attempt(
        self,
        message: OutboxMessage,
        stored: StoredPreferences | None,
        now: datetime,
        on_sent: Callable[[OutboxMessage], None] | None,
    ) -> tuple[str, str]:
        if stored is None:
            return self._finish(
                message, OutboxStatus.cancelled, "the person has no preferences any more"
            ), "no preferences"
        if self.respect:
            check = self._still_wanted(message, stored)
            if isinstance(check, str):
                return self._finish(message, OutboxStatus.cancelled, check), check
            message = check
            schedule = Schedule.of(stored.prefs, stored.person_zone)
            # a required message (a password reset) goes now: windows, quiet hours, pauses are for digests
            verdict = allowed(schedule, now) if message.kind != "required" else Verdict(True)
            if not verdict.ok:
                later = next_allowed(schedule, now)
                if later is None:
                    reason = f"{verdict.reason}; the send window lies wholly in quiet hours"
                    return self._finish(message, OutboxStatus.cancelled, reason), reason
                deferred = message.model_copy(
                    update={"next_attempt_at": later, "reason": f"deferred: {verdict.reason}"}
                )
                self.store.save_message(deferred)
                return "deferred", f"{verdict.reason}; next at {later.isoformat()}"
        transport = self.transports.get(message.channel)
        attempts = message.attempts + 1
        try:
            if transport is None:
                raise DeliveryError(f"no transport configured for {message.channel.value}")
            transport.send(message, stored, now)
        except DeliveryError as exc:
            overdue = now - message.send_after >= timedelta(hours=self.settings.abandon_after_hours)
            if exc.permanent or overdue:
                why = (
                    f"{exc} (permanent)"
                    if exc.permanent
                    else f"{exc}; still failing {self.settings.abandon_after_hours:g} h after it was due"
                )
                done = message.model_copy(update={"attempts": attempts, "last_error": str(exc)})
                return self._finish(done, OutboxStatus.abandoned, why), why
            delay = retry_delay(self.settings, message.id, attempts)
            retry = message.model_copy(
                update={
                    "attempts": attempts,
                    "last_error": str(exc),
                    "next_attempt_at": now + timedelta(seconds=delay),
                }
            )
            self.store.save_message(retry)
            return "retried", f"{exc}; retry in {delay:.0f} s"
        schedule = Schedule.of(stored.prefs, stored.person_zone)
        sent = message.model_copy(
            update={
                "status": OutboxStatus.sent,
                "attempts": attempts,
                "sent_at": now,
                "next_attempt_at": None,
                "reason": None,
                "last_error": None,
                "local_day": local_day(schedule, now),
            }
        )
        self.store.save_message(sent)
        if message.kind != "required":  # the ignore streak (P7) is about digests
            self.store.update_message_prefs(message.user_id, _ignored_one_more, to_epoch(now))
        if on_sent is not None:
            on_sent(sent)
        return "sent", "delivered"

    def _still_wanted(self, message: OutboxMessage, stored: StoredPreferences) -> OutboxMessage | str:
        """The message trimmed to what the person still wants, or why it must not go."""
        if message.kind == "required":  # not subject to topic choices; only to reaching the person
            if self.messaging.reaches(stored, message.channel):
                return message
            return f"{message.channel.value} no longer reaches the person"
        if message.channel not in self.messaging._channels(stored):
            return f"{message.channel.value} is no longer chosen or usable"
        wanted = set(self.messaging.digest_topics(stored.prefs))
        items = [i for i in message.items if set(i.topics) & wanted]
        if not items:
            return "its topics were unsubscribed"
        if len(items) == len(message.items):
            return message
        topics = sorted({t for i in items for t in i.topics} & wanted)
        return message.model_copy(update={"items": items, "topics": topics})

    def _finish(self, message: OutboxMessage, status: OutboxStatus, reason: str) -> str:
        self.store.save_message(
            message.model_copy(update={"status": status, "reason": reason, "next_attempt_at": None})
        )
        return {OutboxStatus.cancelled: "cancelled", OutboxStatus.abandoned: "abandoned"}.get(
            status, status.value
        )


def _ignored_one_more(current: StoredPreferences) -> tuple[MessagePreferences, MessageState]:
    return current.prefs, current.state.model_copy(update={"ignored": current.state.ignored + 1})
