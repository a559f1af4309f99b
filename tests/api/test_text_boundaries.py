"""Text at the boundary: lone surrogates, NUL and invisible characters get a 422 naming the
field (never a 500), in every place text comes in; valid Unicode text is kept as given.

Bodies are sent as raw JSON so the escape ``\\ud800`` reaches the server exactly as an
attacker would send it (a JSON library would refuse to encode it).
"""

from __future__ import annotations

import json
import unicodedata

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful import Engine
from tactful.api.app import create_app
from tactful.domain.identifiers import check_label, check_tag, check_text

LONE = "\\ud800"  # as it appears in JSON text
LOW = "\\udfff"


@pytest.fixture
def api(catalog_engine: Engine) -> TestClient:
    return TestClient(create_app(catalog_engine), raise_server_exceptions=False)


def _post(api: TestClient, method: str, path: str, raw_json: str):  # type: ignore[no-untyped-def]
    return api.request(method, path, content=raw_json.encode(), headers={"content-type": "application/json"})


# (method, path, raw JSON body, the field the 422 must name)
SURROGATE_CASES = [
    ("POST", "/v1/items", f'{{"items": [{{"id": "s1", "tags": ["genre:x{LONE}"]}}]}}', "items[0].tags[0]"),
    ("POST", "/v1/items", f'{{"items": [{{"id": "s1", "title": "a{LOW}"}}]}}', "items[0].title"),
    ("POST", "/v1/tags", f'{{"tags": [{{"tag": "genre:x{LONE}"}}]}}', "tags[0].tag"),
    ("POST", "/v1/tags", f'{{"tags": [{{"tag": "genre:x", "label": "{LONE}"}}]}}', "tags[0].label"),
    ("PUT", "/v1/users/ann", f'{{"id": "ann", "stated_interests": ["genre:{LONE}"]}}', "stated_interests[0]"),
    ("PUT", "/v1/users/ann", f'{{"id": "ann", "muted_topics": ["genre:x{LONE}"]}}', "muted_topics[0]"),
    ("POST", "/v1/promotions", f'{{"name": "p", "tags": ["genre:x{LONE}"]}}', "tags[0]"),
    ("POST", "/v1/promotions", f'{{"target_tags": ["genre:{LONE}"], "items": ["jazz-0"]}}', "target_tags[0]"),
    ("POST", "/v1/promotions", f'{{"name": "p{LONE}", "items": ["jazz-0"]}}', "name"),
    (
        "POST",
        "/v1/events",
        f'{{"user_id": "ann", "type": "search", "context": {{"query": "q{LONE}"}}}}',
        "context.query",
    ),
    (
        "POST",
        "/v1/events",
        f'{{"user_id": "ann", "type": "search", "context": {{"category": "genre:x{LONE}"}}}}',
        "context.category",
    ),
    (
        "POST",
        "/v1/items",
        f'{{"items": [{{"id": "s1", "attributes": {{"extra": {{"k": "v{LONE}"}}}}}}]}}',
        "items[0].attributes.extra.k",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), SURROGATE_CASES)
def test_a_lone_surrogate_is_a_422_naming_the_field(
    api: TestClient, method: str, path: str, body: str, field: str
) -> None:
    before = api.get("/v1/items/s1").status_code
    resp = _post(api, method, path, body)
    assert resp.status_code == 422, resp.text
    error = resp.json()["error"]
    assert error["field"] == field, error
    assert "surrogate" in error["message"]
    assert api.get("/v1/items/s1").status_code == before == 404  # nothing was written


@pytest.mark.parametrize("route", ["interests", "mutes"])
@pytest.mark.parametrize("encoded", ["genre:x%E2%80%8B", "genre:x%E2%80%AE", "genre:x%00"])
def test_a_stated_or_muted_topic_in_the_path_is_checked_the_same_way(
    api: TestClient, route: str, encoded: str
) -> None:
    """A zero-width space, a right-to-left override or NUL in the path is refused like in a
    body. (A lone surrogate cannot be percent-encoded as UTF-8 at all; invalid bytes in a path
    decode to U+FFFD, a visible character.)"""
    resp = api.post(f"/v1/users/ann/{route}/{encoded}")
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == "tag"


INVISIBLE = ["\\u202e", "\\u2066", "\\u200b", "\\u200d", "\\ufeff", "\\u0000", "\\u0007"]


@pytest.mark.parametrize("char", INVISIBLE)
def test_labels_refuse_invisible_and_control_characters(api: TestClient, char: str) -> None:
    cases = [
        ("/v1/items", f'{{"items": [{{"id": "s1", "tags": ["genre:a{char}b"]}}]}}', "items[0].tags[0]"),
        (
            "/v1/items",
            f'{{"items": [{{"id": "s1", "attributes": {{"extra": {{"k{char}": 1}}}}}}]}}',
            "items[0].attributes.extra.k" + json.loads(f'"{char}"') + ".[key]",
        ),
        (
            "/v1/items",
            f'{{"items": [{{"id": "s1", "attributes": {{"url": "https://x.test/{char}"}}}}]}}',
            "items[0].attributes.url",
        ),
        (
            "/v1/events",
            f'{{"user_id": "ann", "type": "search", "context": {{"device": "ph{char}one"}}}}',
            "context.device",
        ),
        (
            "/v1/events",
            f'{{"user_id": "ann", "type": "search", "context": {{"session": "s{char}1"}}}}',
            "context.session",
        ),
    ]
    for path, body, field in cases:
        resp = _post(api, "POST", path, body)
        assert resp.status_code == 422, (path, resp.text)
        assert resp.json()["error"]["field"] == field


def test_free_text_keeps_bidi_and_zero_width_characters_but_never_nul(api: TestClient) -> None:
    title = "\u05e9\u05dc\u05d5\u05dd \u2067abc\u2069 \U0001f469\u200d\U0001f4bb"  # RTL, isolate, ZWJ emoji
    item = {"id": "s2", "title": title, "attributes": {"extra": {"k": title}}}
    ok = api.post("/v1/items", json={"items": [item]})
    assert ok.status_code == 200, ok.text
    item = api.get("/v1/items/s2").json()
    assert item["title"] == title and item["attributes"]["extra"]["k"] == title
    for body in (
        '{"items": [{"id": "s3", "title": "a\\u0000b"}]}',
        '{"items": [{"id": "s3", "attributes": {"extra": {"k": "a\\u0000b"}}}]}',
        '{"user_id": "ann", "type": "search", "context": {"query": "a\\u0000b"}}',
    ):
        path = "/v1/events" if "user_id" in body else "/v1/items"
        resp = _post(api, "POST", path, body)
        assert resp.status_code == 422 and "NUL" in resp.json()["error"]["message"], resp.text


# -- the shared checks, as invariants --------------------------------------------------------


@given(st.text(alphabet=st.characters(codec=None), max_size=40))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_accepted_text_always_encodes_and_stores(value: str) -> None:
    try:
        kept = check_text(value)
    except ValueError:
        assert "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
        return
    kept.encode("utf-8")  # never raises: storable in SQLite, PostgreSQL and JSON
    assert "\x00" not in kept


@given(st.text(alphabet=st.characters(codec=None), max_size=40))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_accepted_labels_and_tags_have_only_visible_characters(value: str) -> None:
    for check in (check_label, check_tag):
        try:
            kept = check(value)
        except ValueError:
            continue
        kept.encode("utf-8")
        assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs") for c in kept)
