"""The feed page names other people only to those who may see them (ids can be e-mail addresses)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tactful import Engine, Event, ManualClock, Settings
from tactful.security.keys import KeyRing
from tactful.web.site import create_site
from tests.conftest import media_items

OTHERS = [f"listener{u}@mail.example" for u in range(20)]
ME = "ann@mail.example"


@pytest.fixture
def site(tmp_path, clock: ManualClock) -> Iterator[tuple[TestClient, dict[str, str]]]:  # type: ignore[no-untyped-def]
    with Engine(Settings(data_dir=tmp_path / "page"), clock=clock) as engine:
        engine.upsert_items(media_items())
        engine.ingest([Event(user_id=p, item_id=f"rock-{n % 8}", type="like") for n, p in enumerate(OTHERS)])
        ring = KeyRing(engine.store, engine.clock)
        creds = {
            "admin": ring.create("a", ["admin"]).secret,
            "serve": ring.create("s", ["serve"]).secret,
            "profile": ring.create("p", ["profile"]).secret,
            "token": engine.issue_user_token(ME),
        }
        yield TestClient(create_site(engine), raise_server_exceptions=False), creds


def _page(client: TestClient, secret: str, user: str = ME):  # type: ignore[no-untyped-def]
    return client.get("/", params={"user": user}, headers={"Authorization": f"Bearer {secret}"})


@pytest.mark.parametrize("who", ["token", "serve", "profile"])
def test_the_page_names_no_other_person(site: tuple[TestClient, dict[str, str]], who: str) -> None:
    client, creds = site
    page = _page(client, creds[who])
    assert page.status_code == 200
    assert not any(other in page.text for other in OTHERS), who


def test_a_token_page_shows_only_its_person(site: tuple[TestClient, dict[str, str]]) -> None:
    client, creds = site
    page = _page(client, creds["token"])
    assert ME in page.text and 'name="user"' not in page.text  # no switcher to other people
    assert _page(client, creds["token"], OTHERS[0]).status_code == 403
    # the person's own buttons work with their token, and only for them
    headers = {"Authorization": f"Bearer {creds['token']}"}
    form = {"item": "rock-1", "action": "like"}
    ok = client.post("/ui/feedback", params={"user": ME}, data=form, headers=headers, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/?user=ann%40mail.example"
    other = client.post("/ui/feedback", params={"user": OTHERS[0]}, data=form, headers=headers)
    assert other.status_code == 403


def test_an_admin_still_gets_the_people_list(site: tuple[TestClient, dict[str, str]]) -> None:
    client, creds = site
    page = _page(client, creds["admin"])
    assert sum(other in page.text for other in OTHERS) == 12
