"""Messages over HTTP: preferences, planning, feedback, and the unsubscribe page (POST only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tactful import Engine, ManualClock
from tactful.web.site import create_site
from tests.messaging.conftest import Recorder, make_engine, subscribe


@pytest.fixture
def api(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_site(engine), raise_server_exceptions=False) as client:
        yield client


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def _planned_link(engine: Engine, recorder: Recorder, topic: str = "jazz") -> str:
    subscribe(engine, topics={"jazz": "opted_in", "films": "opted_in"})
    engine.plan_messages()
    engine.send_messages()
    return recorder.sent[0].links[f"unsubscribe:{topic}"]


def test_preferences_over_http(api: TestClient) -> None:
    view = api.get("/v1/users/ann/message-preferences").json()
    assert {t["id"]: t["locked"] for t in view["topics"]}["account"] is True
    body = {
        "channels": ["push"],
        "topics": {"films": "opted_in"},
        "pause_days": 14,
        "quiet_hours": {"start": "22:00", "end": "07:00"},
    }
    changed = api.patch("/v1/users/ann/message-preferences", json=body)
    assert changed.status_code == 200, changed.text
    view = changed.json()
    assert view["channels"] == ["push"] and view["paused_until"].startswith("2026-03-16")
    assert view["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    refused = api.patch("/v1/users/ann/message-preferences", json={"topics": {"account": "opted_out"}})
    assert refused.status_code == 409 and "Security notices" in refused.json()["error"]["message"]
    for bad in (
        {"window": {"start": "9", "end": "10:00"}},
        {"caps": [{"count": 1, "days": 0}]},
        {"caps": [{"count": "1", "days": 2}]},
        {"timezone": "Mars/Olympus"},
        {"paused_until": "2026-03-20T00:00:00"},
        {"cadence": {"kind": "hourly"}},
        {"email": "not-an-address"},
        {"nope": 1},
    ):
        response = api.patch("/v1/users/ann/message-preferences", json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "invalid"
    assert api.post("/v1/users/ann/message-preferences/topics/account/unsubscribe").status_code == 409
    assert api.post("/v1/users/ann/message-preferences/topics/films/unsubscribe").status_code == 200


def test_plan_outbox_and_feedback_over_http(api: TestClient, engine: Engine, recorder: Recorder) -> None:
    subscribe(engine)
    plan = api.post("/v1/messages/plan", json={"dry_run": False})
    assert plan.status_code == 200 and plan.json()["counts"] == {"planned": 1}
    assert api.post("/v1/messages/plan", json={}).json()["counts"] == {}
    assert api.post("/v1/messages/plan", json={"now": "2026-03-02T09:00:00"}).status_code == 422
    assert api.post("/v1/messages/send").json()["sent"] == 1
    [message] = api.get("/v1/users/ann/messages").json()
    assert message["status"] == "sent"
    assert api.get("/v1/messages/outbox?status=sent").json()[0]["id"] == message["id"]
    opened = api.post("/v1/messages/feedback", json={"message_id": message["id"], "type": "open"})
    assert opened.status_code == 200 and opened.json()["effects"] == ["ignore streak reset"]
    assert api.post("/v1/messages/feedback", json={"message_id": "m_nope", "type": "open"}).status_code == 404
    assert (
        api.post("/v1/messages/feedback", json={"message_id": message["id"], "type": "bounce"}).status_code
        == 422
    )


def test_get_shows_a_confirmation_and_never_unsubscribes(
    api: TestClient, engine: Engine, recorder: Recorder
) -> None:
    link = _planned_link(engine, recorder)
    path = urlsplit(link).path + "?" + urlsplit(link).query
    for _ in range(3):  # link scanners follow every GET
        page = api.get(path)
        assert page.status_code == 200 and '<form method="post"' in page.text and "Jazz" in page.text
    states = {t.id: t.state for t in engine.message_preferences("ann").topics}
    assert states["jazz"] == "opted_in"


def test_one_click_post_unsubscribes_immediately_from_that_topic_only(
    api: TestClient, engine: Engine, recorder: Recorder, clock: ManualClock
) -> None:
    link = _planned_link(engine, recorder)
    response = api.post(
        "/unsubscribe",
        params={"token": _token(link)},
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    states = {t.id: t.state for t in engine.message_preferences("ann").topics}
    assert states == {"jazz": "opted_out", "films": "opted_in", "picks": "opted_out", "account": "required"}
    clock.advance(days=1)
    engine.plan_messages()
    latest = engine.outbox("ann", limit=1)[0]
    assert latest.topics == ["films"]  # only the topic unsubscribed from is gone


def test_tampered_or_foreign_links_change_nothing(
    api: TestClient, engine: Engine, recorder: Recorder
) -> None:
    link = _planned_link(engine, recorder)
    token = _token(link)
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    assert api.post("/unsubscribe", params={"token": forged}).status_code == 400
    assert api.post("/unsubscribe", params={"token": "garbage"}).status_code == 400
    assert api.get("/unsubscribe", params={"token": "x.y"}).status_code == 400
    restore = engine.messaging.link_token("restore", "ann")
    assert api.post("/unsubscribe", params={"token": restore}).status_code == 400
    assert {t.id: t.state for t in engine.message_preferences("ann").topics}["jazz"] == "opted_in"


def test_user_token_reaches_only_its_own_preferences(tmp_path: Path, clock: ManualClock) -> None:
    with make_engine(tmp_path / "d", clock, auth=True) as engine:
        token = engine.issue_user_token("ann")
        with TestClient(create_site(engine), raise_server_exceptions=False) as client:
            auth = {"Authorization": f"Bearer {token}"}
            assert client.get("/v1/users/ann/message-preferences", headers=auth).status_code == 200
            assert client.get("/v1/users/bob/message-preferences", headers=auth).status_code == 403
            assert client.post("/v1/messages/plan", json={}, headers=auth).status_code == 403
            assert client.get("/v1/users/ann/message-preferences").status_code == 401
            # the unsubscribe page needs no sign-in: its link is signed
            assert (
                client.get(
                    "/unsubscribe",
                    params={"token": engine.messaging.link_token("unsubscribe", "ann", "jazz")},
                ).status_code
                == 200
            )
