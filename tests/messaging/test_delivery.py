"""Delivery workers: signed webhook posts with retry and abandonment; SMTP through a real local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tactful import Engine, ManualClock
from tactful.clock import to_epoch
from tactful.domain.messages import Channel
from tactful.services.delivery import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SmtpTransport,
    WebhookTransport,
    retry_delay,
    sign,
    verify_signature,
)
from tests.messaging.conftest import make_engine, subscribe

SECRET = b"webhook-secret-for-tests"


class Hook:
    """A local HTTP receiver answering with the statuses it is told to, recording each post."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.posts: list[tuple[dict[str, str], bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append((dict(self.headers.items()), body))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"a":1}'
    headers = {TIMESTAMP_HEADER: "1780000000", SIGNATURE_HEADER: sign(SECRET, 1780000000, body)}
    assert verify_signature(SECRET, headers, body, now=1780000010)
    assert not verify_signature(SECRET, headers, b'{"a":2}', now=1780000010)
    assert not verify_signature(b"other-secret", headers, body, now=1780000010)
    assert not verify_signature(SECRET, headers, body, now=1780000000 + 301)  # stale: replay refused
    assert not verify_signature(SECRET, {**headers, TIMESTAMP_HEADER: "1780000001"}, body, now=1780000010)
    assert not verify_signature(SECRET, {}, body, now=1780000010)


def test_webhook_post_is_signed(engine: Engine, clock: ManualClock, hook: Hook) -> None:
    engine.set_transports({Channel.push: WebhookTransport(hook.url, SECRET, 5.0)})
    subscribe(engine, channels=["push"])
    engine.plan_messages()
    report = engine.send_messages()
    assert report.sent == 1
    [(headers, body)] = hook.posts
    assert verify_signature(SECRET, headers, body, now=to_epoch(clock.now()))
    sent = json.loads(body)
    assert sent["user_id"] == "ann" and sent["channel"] == "push" and sent["items"]
    assert headers["Idempotency-Key"] == sent["key"] == "ann|push|d2026-03-02"
    assert engine.outbox("ann")[0].status == "sent"


def test_webhook_retries_with_backoff_then_succeeds(engine: Engine, clock: ManualClock, hook: Hook) -> None:
    engine.set_transports({Channel.push: WebhookTransport(hook.url, SECRET, 5.0)})
    subscribe(engine, channels=["push"])
    engine.plan_messages()
    hook.statuses = [503, 500]
    assert engine.send_messages().retried == 1
    [message] = engine.outbox("ann")
    assert (
        message.status == "queued" and message.attempts == 1 and message.last_error == "webhook answered 503"
    )
    first_delay = (message.next_attempt_at - clock.now()).total_seconds()  # type: ignore[operator]
    assert 15 <= first_delay <= 30  # base 30 s with equal jitter
    assert engine.send_messages().claimed == 0  # not due yet
    clock.set(message.next_attempt_at)  # type: ignore[arg-type]
    assert engine.send_messages().retried == 1
    second = engine.outbox("ann")[0]
    assert 30 <= (second.next_attempt_at - clock.now()).total_seconds() <= 60  # type: ignore[operator]
    clock.set(second.next_attempt_at)  # type: ignore[arg-type]
    assert engine.send_messages().sent == 1 and len(hook.posts) == 3


def test_retry_delays_grow_exponentially_with_jitter_and_a_ceiling(engine: Engine) -> None:
    s = engine.settings.messaging
    delays = [retry_delay(s, "m_x", k) for k in range(1, 12)]
    for k, d in enumerate(delays, start=1):
        cap = min(s.retry_base_seconds * 2 ** (k - 1), s.retry_max_seconds)
        assert cap / 2 <= d <= cap
    assert delays == [retry_delay(s, "m_x", k) for k in range(1, 12)]  # seeded
    assert len({retry_delay(s, f"m_{k}", 3) for k in range(20)}) > 10  # jittered across messages


def test_webhook_abandoned_after_72_hours(engine: Engine, clock: ManualClock, hook: Hook) -> None:
    engine.set_transports({Channel.push: WebhookTransport(hook.url, SECRET, 5.0)})
    subscribe(engine, channels=["push"], window={"start": "00:00", "end": "23:59"})
    engine.plan_messages()
    due = engine.outbox("ann")[0].send_after
    hook.statuses = [503] * 1000
    while True:
        report = engine.send_messages()
        message = engine.outbox("ann")[0]
        if message.status != "queued":
            break
        assert clock.now() - due < timedelta(hours=72)
        clock.set(max(message.next_attempt_at or clock.now(), clock.now() + timedelta(seconds=1)))
    assert message.status == "abandoned" and report.abandoned == 1
    assert clock.now() - due >= timedelta(hours=72)
    assert "72 h" in (message.reason or "")
    assert message.attempts == len(hook.posts) >= 70  # retried all along (hourly at most)


def test_permanent_4xx_abandons_at_once(engine: Engine, hook: Hook) -> None:
    engine.set_transports({Channel.push: WebhookTransport(hook.url, SECRET, 5.0)})
    subscribe(engine, channels=["push"])
    engine.plan_messages()
    hook.statuses = [410]
    assert engine.send_messages().abandoned == 1
    assert "permanent" in (engine.outbox("ann")[0].reason or "")


class Sink:
    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"


def test_smtp_email_has_text_html_and_one_click_unsubscribe(tmp_path: Path, clock: ManualClock) -> None:
    sink = Sink()
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with make_engine(tmp_path / "d", clock, public_url="https://news.example.com") as engine:
            engine.set_transports(
                {Channel.email: SmtpTransport("127.0.0.1", port, "news <news@example.com>")}
            )
            subscribe(engine)
            engine.plan_messages()
            assert engine.send_messages().sent == 1
            [mail] = sink.mails
            assert mail["To"] == "ann@example.com"
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            link = mail["List-Unsubscribe"]
            assert link.startswith("<https://news.example.com/unsubscribe?token=") and link.endswith(">")
            parts = {
                p.get_content_type(): p.get_payload(decode=True).decode()
                for p in mail.walk()
                if not p.is_multipart()
            }
            assert set(parts) == {"text/plain", "text/html"}
            message = engine.outbox("ann")[0]
            for item in message.items:
                assert item.title in parts["text/plain"] and item.title in parts["text/html"]
            assert "Unsubscribe from jazz" in parts["text/plain"]
            assert "general digest" in parts["text/plain"]
            # the link's token is the person's, for this topic
            token = link[1:-1].split("token=")[1]
            from urllib.parse import unquote

            claims = engine.messaging.read_link(unquote(token))
            assert (claims.user_id, claims.topic, claims.action) == ("ann", "jazz", "unsubscribe")
    finally:
        controller.stop()


def test_delivery_rechecks_preferences_before_each_attempt(engine: Engine, clock: ManualClock) -> None:
    from tests.messaging.conftest import Recorder

    rec = Recorder()
    engine.set_transports({Channel.email: rec, Channel.push: rec})
    subscribe(engine, channels=["email", "push"], quiet_hours={"start": "12:00", "end": "13:00"})
    engine.plan_messages()
    clock.set(clock.now().replace(hour=12, minute=15))  # now in quiet hours: deferred, not sent
    report = engine.send_messages()
    assert report.deferred == 2 and rec.sent == []
    assert all(m.next_attempt_at == clock.now().replace(hour=13, minute=0) for m in engine.outbox("ann"))
    engine.update_message_preferences("ann", {"channels": ["email"]})  # push dropped: its message cancelled
    clock.set(clock.now().replace(hour=13, minute=0))
    assert engine.send_messages().sent == 1 and [m.channel for m in rec.sent] == ["email"]


def test_a_webhook_needs_a_signing_secret() -> None:
    import pydantic

    from tactful.config.messaging import MessagingSettings

    with pytest.raises(pydantic.ValidationError, match="webhook_secret"):
        MessagingSettings(webhook_url="http://127.0.0.1:9/hook")
    ok = MessagingSettings(webhook_url="http://127.0.0.1:9/hook", webhook_secret="0123456789abcdef")
    assert ok.webhook_secret is not None
