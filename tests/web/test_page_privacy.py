"""The pages' doors: who sees what, sessions, CSRF (fast, in process, authentication on)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tactful import Engine, Event, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.security.keys import KeyRing
from tactful.web.guard import ADMIN_COOKIE
from tactful.web.site import create_site
from tests.conftest import media_items

OTHERS = [f"listener{u}@mail.example" for u in range(20)]
ME = "ann@mail.example"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def site(tmp_path, clock: ManualClock) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "page", auth=AuthSettings(enabled=True))
    with Engine(settings, clock=clock) as engine:
        engine.upsert_items(media_items())
        engine.ingest([Event(user_id=p, item_id=f"rock-{n % 8}", type="like") for n, p in enumerate(OTHERS)])
        engine.ingest([Event(user_id=ME, item_id="jazz-1", type="like")])
        ring = KeyRing(engine.store, engine.clock)
        creds = {
            "admin": ring.create("a", ["admin"]).secret,
            "serve": ring.create("s", ["serve"]).secret,
        }
        yield TestClient(create_site(engine), base_url="http://tactful.test"), engine, creds


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has a form with its CSRF token"
    return found.group(1)


def test_without_demo_mode_there_are_no_demo_pages(site) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = site
    landing = client.get("/")
    assert landing.status_code == 200 and not any(o in landing.text for o in OTHERS)
    assert client.get("/store").status_code == 404
    assert client.post(
        "/demo/act", data={"who": ME, "item": "jazz-1", "action": "like", "csrf": "x"}
    ).status_code in (
        400,
        404,
    )


def test_demo_mode_needs_auth_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="web.demo"):
        Settings(data_dir=tmp_path, web={"demo": True}, auth={"enabled": True})


def test_me_opens_with_the_token_and_shows_only_that_person(site) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = site
    assert "personal link" in client.get("/me").text  # no session: how to get in, nobody's data
    bad = client.get("/me", params={"token": "tut_forged.sig"})
    assert bad.status_code == 401
    first = client.get("/me", params={"token": engine.issue_user_token(ME)}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/me"
    assert "httponly" in first.headers["set-cookie"].lower()
    page = client.get("/me")
    assert page.status_code == 200 and "Jazz" in page.text
    assert not any(o in page.text for o in OTHERS)
    # a change: CSRF token required, and the change is stored
    token = _csrf(page.text)
    assert (
        client.post("/me/interest", data={"tag": "genre:jazz", "what": "mute", "csrf": "forged"}).status_code
        == 400
    )
    assert "genre:jazz" not in engine.profile(ME).muted_topics
    ok = client.post(
        "/me/interest", data={"tag": "genre:jazz", "what": "mute", "csrf": token}, follow_redirects=False
    )
    assert ok.status_code == 303
    assert "genre:jazz" in engine.profile(ME).muted_topics
    # a cross-site form is refused even with the right token
    cross = client.post(
        "/me/interest",
        data={"tag": "genre:jazz", "what": "unmute", "csrf": token},
        headers={"origin": "https://evil.example"},
    )
    assert cross.status_code == 400 and "genre:jazz" in engine.profile(ME).muted_topics
    # revoking the person's tokens ends the session
    engine.revoke_user_tokens(ME)
    assert "personal link" in client.get("/me").text


def test_export_is_the_persons_own_data(site) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = site
    client.get("/me", params={"token": engine.issue_user_token(ME)})
    export = client.get("/me/export")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    body = export.json()
    assert body["user_id"] == ME and not any(o in export.text for o in OTHERS)


def test_delete_needs_confirmation_then_erases(site) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = site
    page = client.get("/me", params={"token": engine.issue_user_token(ME)})
    token = _csrf(page.text)
    client.post("/me/delete", data={"csrf": token})
    assert engine.profile(ME).positive_signals == 1  # not confirmed: nothing erased
    done = client.post("/me/delete", data={"csrf": token, "confirm": "yes"})
    assert done.status_code == 200 and 'id="deleted"' in done.text
    assert engine.profile(ME).positive_signals == 0 and engine.store.get_person(ME) is None


def test_admin_needs_an_admin_key_and_a_valid_session(site) -> None:  # type: ignore[no-untyped-def]
    client, engine, creds = site
    signin = client.get("/admin")
    assert 'id="key"' in signin.text and "Overview" not in signin.text
    token = _csrf(signin.text)
    for wrong in (creds["serve"], "tk_nope_nope"):
        resp = client.post("/admin/signin", data={"key": wrong, "csrf": token})
        assert resp.status_code == 401 and "not an active admin key" in resp.text
    assert client.post("/admin/signin", data={"key": creds["admin"]}).status_code == 422  # no CSRF field
    ok = client.post("/admin/signin", data={"key": creds["admin"], "csrf": token}, follow_redirects=False)
    assert (
        ok.status_code == 303 and creds["admin"] not in ok.headers["set-cookie"]
    )  # the key is never the cookie
    overview = client.get("/admin")
    assert "Overview" in overview.text and "<svg" in overview.text
    person = client.get("/admin/person", params={"id": ME})
    assert "Jazz" in person.text
    # a tampered session cookie is no session
    value = client.cookies.get(ADMIN_COOKIE, path="/admin")
    assert value
    client.cookies.set(ADMIN_COOKIE, value[:-2] + "xx", path="/admin")
    assert 'id="key"' in client.get("/admin").text
    actions = {e.action for e in engine.audit.entries(limit=50).entries}
    assert {"admin.page.signin", "admin.page.person_lookup"} <= actions


def test_a_revoked_key_ends_the_dashboard_session(site) -> None:  # type: ignore[no-untyped-def]
    client, engine, creds = site
    token = _csrf(client.get("/admin").text)
    client.post("/admin/signin", data={"key": creds["admin"], "csrf": token})
    assert "Overview" in client.get("/admin").text
    ring = KeyRing(engine.store, engine.clock)
    ring.revoke(next(k.id for k in ring.list() if k.name == "a"))
    assert 'id="key"' in client.get("/admin").text
