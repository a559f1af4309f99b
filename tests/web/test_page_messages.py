"""Message preferences on /me and the dashboard's experiments and outbox (fast, in process)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient

from tactful import Engine, Event, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.security.keys import KeyRing
from tactful.web.site import create_site
from tests.conftest import media_items

ME = "ann@mail.example"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FORM = {
    "cadence": "weekly",
    "weekday": "thursday",
    "day_of_month": "3",
    "window_start": "09:00",
    "window_end": "18:30",
    "quiet_start": "12:00",
    "quiet_end": "13:00",
    "quiet": "on",
    "timezone": "Europe/Lisbon",
    "email": "ann@mail.example",
    "channel": ["email", "push"],
    "topic": ["digest"],
}


@pytest.fixture
def site(tmp_path, clock: ManualClock) -> Iterator[tuple[TestClient, Engine, str]]:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "page", auth=AuthSettings(enabled=True))
    with Engine(settings, clock=clock) as engine:
        engine.upsert_items(media_items())
        engine.ingest([Event(user_id=ME, item_id="jazz-1", type="like")])
        admin = KeyRing(engine.store, engine.clock).create("a", ["admin"]).secret
        yield TestClient(create_site(engine), base_url="http://tactful.test"), engine, admin


def _me(client: TestClient, engine: Engine) -> str:
    client.get("/me", params={"token": engine.issue_user_token(ME)})
    page = client.get("/me")
    assert page.status_code == 200
    found = CSRF.search(page.text)
    assert found
    return found.group(1)


def _post(client: TestClient, url: str, data: dict[str, object]) -> str:
    """Post a form as a browser does (303 → GET /me) and return the message the page shows."""
    html = client.post(url, data=data).text
    found = re.search(r'id="flash"[^>]*>(.*?)</', html, re.S)
    assert found, "a message says what changed"
    return unescape(found.group(1))


def test_message_preferences_are_stored_and_shown_back(site) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = site
    csrf = _me(client, engine)
    html = client.get("/me").text
    required = [t for t in engine.message_preferences(ME).topics if t.locked]
    assert required, "the default topics include a required one"
    for t in required:  # locked, ticked, with its reason
        row = re.search(rf'data-topic="{t.id}">(.*?)</label>', html, re.S)
        assert row and "disabled" in row.group(1) and "checked" in row.group(1)
        assert t.reason and t.reason in unescape(row.group(1))
    said = _post(client, "/me/messages", {**FORM, "csrf": csrf})
    assert said.startswith("Saved:") and "weekly on Thursday" in said and "Europe/Lisbon" in said
    view = engine.message_preferences(ME)
    assert [c.value for c in view.channels] == ["email", "push"]
    assert view.cadence.kind.value == "weekly" and view.cadence.weekday == "thursday"
    assert (view.window.start, view.window.end) == ("09:00", "18:30")
    assert view.quiet_hours is not None and view.quiet_hours.start == "12:00"
    assert view.timezone == "Europe/Lisbon" and not view.timezone_is_person_default
    assert all(t.state.value in ("opted_in", "required") for t in view.topics if t.id == "digest")
    page = client.get("/me").text  # shown back as stored
    assert 'value="thursday" selected' in page and 'value="Europe/Lisbon" selected' in page
    assert 'value="18:30"' in page
    # untick everything optional, drop quiet hours and the channels: stored as "no"
    bare = {k: v for k, v in FORM.items() if k not in ("quiet", "channel", "topic")}
    client.post("/me/messages", data={**bare, "cadence": "never", "csrf": csrf})
    view = engine.message_preferences(ME)
    assert view.channels == [] and view.quiet_hours is None and view.cadence.kind.value == "never"
    assert all(t.state.value != "opted_in" for t in view.topics)
    assert any(t.state.value == "required" for t in view.topics)  # required never switched off
    # a bad choice is refused in words, nothing changes
    said = _post(client, "/me/messages", {**FORM, "timezone": "Mars/Olympus_Mons", "csrf": csrf})
    assert said.startswith("Nothing changed") and "Mars/Olympus_Mons" in said
    assert engine.message_preferences(ME).cadence.kind.value == "never"
    # an equal start and end is the whole day, and said so
    said = _post(client, "/me/messages", {**FORM, "window_end": "09:00", "csrf": csrf})
    assert said.startswith("Saved:") and "any time of day" in said


def test_snooze_and_resume(site, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = site
    csrf = _me(client, engine)
    said = _post(client, "/me/messages/pause", {"what": "snooze", "csrf": csrf})
    paused = engine.message_preferences(ME).paused_until
    assert paused is not None and abs(paused - (clock.now() + timedelta(days=14))) < timedelta(minutes=1)
    assert "paused until" in said
    assert 'id="resume"' in client.get("/me").text
    said = _post(client, "/me/messages/pause", {"what": "resume", "csrf": csrf})
    assert engine.message_preferences(ME).paused_until is None
    assert said.endswith("messages resumed.")
    engine.update_message_preferences(ME, {"topics": {"digest": "opted_in"}})
    assert 'id="unsubscribe-all"' in client.get("/me").text
    said = _post(client, "/me/messages/pause", {"what": "unsubscribe", "csrf": csrf})
    assert "you no longer get Your digest" in said
    states = {t.id: t.state.value for t in engine.message_preferences(ME).topics}
    assert states["digest"] == "opted_out" and "required" in states.values()
    assert 'id="unsubscribe-all"' not in client.get("/me").text


def test_message_forms_need_csrf_and_a_session(site) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = site
    csrf = _me(client, engine)
    bad = client.post("/me/messages/pause", data={"what": "snooze", "csrf": "forged"})
    assert bad.status_code == 400
    assert engine.message_preferences(ME).paused_until is None
    client.cookies.clear()
    gone = client.post("/me/messages", data={**FORM, "csrf": csrf})
    assert gone.status_code in (400, 401)
    assert engine.message_preferences(ME).channels == []


def _admin(client: TestClient, key: str) -> None:
    token = CSRF.search(client.get("/admin").text)
    assert token
    assert client.post("/admin/signin", data={"key": key, "csrf": token.group(1)}).status_code == 200


SPEC = {
    "id": "exp-explore",
    "name": "More exploration",
    "rollout": {"steps": [{"percent": 100}]},
    "variants": [
        {"name": "control"},
        {"name": "explore", "weight": 3, "config": {"policy": {"enabled": False}}},
    ],
}


def test_dashboard_experiments_list_report_and_actions(site, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    client, engine, key = site
    assert 'id="key"' in client.get("/admin/experiments").text  # signed out: the sign-in form
    assert client.get("/admin/experiments/exp-explore/report").status_code == 401
    engine.experiments.create(SPEC)
    _admin(client, key)
    listing = client.get("/admin/experiments").text
    assert 'data-experiment="exp-explore"' in listing and 'data-status="draft"' in listing
    assert "control (control): 25 %" in listing and "explore: 75 %" in listing
    detail = client.get("/admin/experiments/exp-explore").text
    assert "sample ratio" in detail and detail.count("<h1") == 1  # the report, headings one level down
    assert "X-API-Key" not in detail and key not in detail
    alone = client.get("/admin/experiments/exp-explore/report")
    assert (
        alone.status_code == 200 and alone.text.startswith("<!doctype html>") and "sample ratio" in alone.text
    )
    token = CSRF.search(detail)
    assert token
    started = client.post(
        "/admin/experiments/action",
        data={"experiment": "exp-explore", "what": "start", "csrf": token.group(1)},
    ).text
    assert "Started" in started and engine.experiments.get("exp-explore").status.value == "running"
    for n in range(12):  # exposures, so the report has its plots
        engine.recommend(f"p{n}@mail.example", n=3)
    engine.experiments.log.flush()
    clock.advance(hours=6)
    plotted = client.get("/admin/experiments/exp-explore").text
    assert plotted.count("<svg") >= 2 and "people exposed over time" in plotted
    checked = client.post(
        "/admin/experiments/action",
        data={"experiment": "exp-explore", "what": "evaluate", "csrf": token.group(1)},
    ).text
    assert "Checked" in checked
    forged = client.post(
        "/admin/experiments/action", data={"experiment": "exp-explore", "what": "stop", "csrf": "forged"}
    )
    assert forged.status_code == 400 and engine.experiments.get("exp-explore").status.value == "running"
    missing = client.get("/admin/experiments/nope").text
    assert "No report" in missing
    actions = [e for e in engine.audit.entries(limit=100).entries]
    names = {e.action for e in actions}
    assert {"admin.page.experiment_report", "admin.page.experiment_action", "experiment.start"} <= names
    assert any(e.action == "experiment.start" and e.actor.startswith("key:") for e in actions)


def test_dashboard_outbox_counts_and_reasons(site) -> None:  # type: ignore[no-untyped-def]
    client, engine, key = site
    _admin(client, key)
    empty = client.get("/admin/outbox").text
    assert "No messages planned yet" in empty
    engine.update_message_preferences(
        ME,
        {
            "channels": ["email"],
            "email": "ann@mail.example",
            "cadence": {"kind": "daily"},
            "topics": {"digest": "opted_in"},
            "window": {"start": "00:00", "end": "23:59"},
        },
    )
    report = engine.plan_messages()
    assert sum(engine.message_status().values()) >= 1, report
    page = client.get("/admin/outbox").text
    assert ME in page and 'data-status="queued"' in page
    counts = re.search(r'data-status="queued"><a[^>]*>queued</a><strong>(\d+)</strong>', page)
    assert counts and int(counts.group(1)) == engine.message_status().get("queued", 0)
    assert client.get("/admin/outbox", params={"status": "sent"}).text.count("<tr data-message") == 0
    assert client.get("/admin/outbox", params={"status": "bogus"}).status_code == 422
    assert "admin.page.outbox_view" in {e.action for e in engine.audit.entries(limit=50).entries}
