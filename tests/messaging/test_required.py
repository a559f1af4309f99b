"""Required one-off messages (a password reset): never blocked by unsubscribes, windows, quiet
hours, pauses or caps, never counted against caps, and only sent where they reach the person."""

from __future__ import annotations

import socket
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from tactful import Engine, ManualClock
from tactful.domain.messages import Channel, MessageFeedback
from tactful.errors import Conflict, NotFound, ValidationError
from tactful.security.keys import KeyRing
from tactful.services.delivery import SmtpTransport
from tactful.web.site import create_site
from tests.messaging.conftest import Recorder, make_engine, subscribe

RESET = {"topic": "account", "key": "reset-1", "subject": "Reset your password", "text": "Use code 4711."}


def test_a_reset_reaches_someone_who_unsubscribed_from_everything_in_quiet_hours_while_paused(
    engine: Engine, clock: ManualClock, recorder: Recorder
) -> None:
    subscribe(engine, quiet_hours={"start": "07:00", "end": "09:00"}, caps=[{"count": 1, "days": 7}])
    engine.unsubscribe("ann", None)
    engine.update_message_preferences("ann", {"pause_days": 14})
    message, added = engine.send_required_message("ann", RESET)
    assert added and message.kind == "required" and message.channel is Channel.email
    report = engine.send_messages()
    assert report.sent == 1 and [m.id for m in recorder.sent] == [message.id]
    assert recorder.sent[0].text == "Use code 4711." and recorder.sent[0].subject == "Reset your password"


def test_the_same_key_queues_one_message_and_a_new_key_another(engine: Engine, recorder: Recorder) -> None:
    subscribe(engine)
    first, added = engine.send_required_message("ann", RESET)
    again, added_again = engine.send_required_message("ann", {**RESET, "text": "another text"})
    assert added and not added_again and again.id == first.id and again.text == "Use code 4711."
    _, other = engine.send_required_message("ann", {**RESET, "key": "reset-2"})
    assert other
    assert engine.send_messages().sent == 2
    assert engine.send_messages().sent == 0  # sent once each, whatever re-runs


def test_required_messages_neither_count_against_caps_nor_feed_the_ignore_streak(
    engine: Engine, clock: ManualClock, recorder: Recorder
) -> None:
    subscribe(engine, caps=[{"count": 1, "days": 2}])
    for k in range(3):
        engine.send_required_message("ann", {**RESET, "key": f"reset-{k}"})
    assert engine.send_messages().sent == 3
    assert engine.message_preferences("ann").lowered_from is None
    stored = engine.messaging._stored("ann")
    assert stored.state.ignored == 0
    # the digest still fits under the cap of one per two days
    report = engine.plan_messages()
    assert [d.outcome for d in report.decisions if d.user_id == "ann"] == ["planned"]
    assert engine.send_messages().sent == 1
    assert [m.kind for m in recorder.sent][-1] in ("personal", "general")


def test_email_reaches_an_address_even_when_digests_go_only_by_push(
    engine: Engine, recorder: Recorder
) -> None:
    subscribe(engine, channels=["push"])
    message, _ = engine.send_required_message("ann", RESET)
    assert message.channel is Channel.email
    push, _ = engine.send_required_message("ann", {**RESET, "key": "reset-push", "channel": "push"})
    assert push.channel is Channel.push
    assert engine.send_messages().sent == 2


def test_no_reachable_channel_or_an_optional_topic_is_refused_and_queues_nothing(engine: Engine) -> None:
    with pytest.raises(Conflict, match="no channel reaches"):
        engine.send_required_message("nobody", RESET)
    subscribe(engine, channels=["push"], email=None)
    with pytest.raises(Conflict, match="no email address"):
        engine.send_required_message("ann", {**RESET, "channel": "email"})
    with pytest.raises(Conflict, match="not a required topic"):
        engine.send_required_message("ann", {**RESET, "topic": "jazz"})
    with pytest.raises(NotFound, match="no topic"):
        engine.send_required_message("ann", {**RESET, "topic": "nosuch"})
    with pytest.raises(ValidationError):
        engine.send_required_message("ann", {**RESET, "subject": "two\nlines"})
    assert engine.outbox("ann") == [] and engine.outbox("nobody") == []


def test_a_hard_bounce_suppresses_the_channel_for_required_messages_too(
    engine: Engine, recorder: Recorder
) -> None:
    subscribe(engine)
    first, _ = engine.send_required_message("ann", RESET)
    engine.send_messages()
    engine.message_feedback(MessageFeedback(message_id=first.id, type="hard_bounce"))
    with pytest.raises(Conflict, match="suppressed"):
        engine.send_required_message("ann", {**RESET, "key": "reset-2", "channel": "email"})
    with pytest.raises(Conflict, match="no channel reaches"):
        engine.send_required_message("ann", {**RESET, "key": "reset-3"})


def test_a_queued_required_message_survives_digest_changes_but_not_losing_its_channel(
    engine: Engine, recorder: Recorder
) -> None:
    subscribe(engine, channels=["email", "push"])
    email, _ = engine.send_required_message("ann", RESET)
    push, _ = engine.send_required_message("ann", {**RESET, "key": "p", "channel": "push"})
    engine.update_message_preferences("ann", {"topics": {"jazz": "opted_out"}, "channels": ["email"]})
    by_id = {m.id: m for m in engine.outbox("ann")}
    assert by_id[email.id].status.value == "queued"
    assert by_id[push.id].status.value == "cancelled" and "no longer reaches" in (by_id[push.id].reason or "")
    assert engine.send_messages().sent == 1 and [m.id for m in recorder.sent] == [email.id]


def test_over_http_with_an_ingest_key_201_then_200_and_4xx_for_bad_bodies(
    tmp_path: Path, clock: ManualClock
) -> None:
    with make_engine(tmp_path / "d", clock, auth=True) as engine:
        subscribe(engine)
        ring = KeyRing(engine.store, engine.clock)
        ingest = ring.create("backend", ["ingest"]).secret
        serve = ring.create("reader", ["serve"]).secret
        with TestClient(create_site(engine), raise_server_exceptions=False) as client:
            url = "/v1/users/ann/messages"
            h = {"Authorization": f"Bearer {ingest}"}
            first = client.post(url, json=RESET, headers=h)
            assert first.status_code == 201 and first.json()["kind"] == "required"
            again = client.post(url, json=RESET, headers=h)
            assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
            assert (
                client.post(url, json=RESET, headers={"Authorization": f"Bearer {serve}"}).status_code == 403
            )
            assert client.post(url, json={**RESET, "topic": "jazz"}, headers=h).status_code == 409
            assert client.post(url, json={**RESET, "topic": "nosuch"}, headers=h).status_code == 404
            bad: list[dict[str, Any]] = [
                {**RESET, "key": "bad key"},
                {**RESET, "text": ""},
                {**RESET, "extra": 1},
            ]
            for body in bad:
                r = client.post(url, json=body, headers=h)
                assert r.status_code == 422, (body, r.text)
            assert client.post("/v1/users/nobody/messages", json=RESET, headers=h).status_code == 409
            assert len(engine.outbox("ann")) == 1


def test_smtp_renders_the_required_text_with_an_unsubscribe_that_spares_required_topics(
    tmp_path: Path, clock: ManualClock
) -> None:
    mails: list[Any] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            mails.append(message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with make_engine(tmp_path / "d", clock, public_url="https://news.example.com") as engine:
            engine.set_transports({Channel.email: SmtpTransport("127.0.0.1", port, "news@example.com")})
            subscribe(engine, quiet_hours={"start": "00:00", "end": "23:59"})
            engine.send_required_message("ann", RESET)
            assert engine.send_messages().sent == 1
            [mail] = mails
            assert mail["Subject"] == "Reset your password" and mail["List-Unsubscribe-Post"]
            parts = {
                p.get_content_type(): p.get_payload(decode=True).decode()
                for p in mail.walk()
                if not p.is_multipart()
            }
            assert "Use code 4711." in parts["text/plain"] and "Use code 4711." in parts["text/html"]
            from urllib.parse import unquote

            token = unquote(mail["List-Unsubscribe"][1:-1].split("token=")[1])
            claims = engine.messaging.read_link(token)
            assert claims.topic is None  # all digests; the required topic cannot be unsubscribed
            engine.unsubscribe("ann", claims.topic)
            assert engine.send_required_message("ann", {**RESET, "key": "after"})[1]
            clock.advance(timedelta(minutes=1))
            assert engine.send_messages().sent == 1
    finally:
        controller.stop()
