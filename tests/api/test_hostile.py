"""Hostile input (SPEC §7): schemathesis against the served OpenAPI spec, plus hand-made abuse.

Every operation gets generated valid and invalid requests (bounded: ``MAX_EXAMPLES`` each);
the API must never answer 5xx, and every answer must match the published schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tactful import Engine, Event, ManualClock, Settings
from tactful.config.security import AuthSettings, RateLimitSettings
from tactful.security.keys import KeyRing
from tactful.web.site import create_site
from tests.conftest import media_items

MAX_EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _hardened_engine(tmp: Path, clock: ManualClock) -> tuple[Engine, str]:
    limits = RateLimitSettings(per_second=1e6, burst=1_000_000)
    engine = Engine(Settings(data_dir=tmp, auth=AuthSettings(rate_limit=limits)), clock=clock)
    engine.upsert_items(media_items())
    engine.ingest([Event(user_id=f"c{u}", item_id=f"rock-{u % 8}", type="like") for u in range(20)])
    return engine, KeyRing(engine.store, clock).create("fuzz", ["admin"]).secret


@pytest.fixture
def served(tmp_path: Path, clock: ManualClock) -> Iterator[tuple[FastAPI, str]]:
    engine, secret = _hardened_engine(tmp_path / "fuzz", clock)
    yield create_site(engine), secret
    engine.close()


def _fuzz(app: FastAPI, secret: str, mode: GenerationMode) -> tuple[int, dict[str, str]]:
    """Run every operation through hypothesis; return (cases run, first failure per operation)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {secret}"}
    ran = 0
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @hsettings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            nonlocal ran
            ran += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to break: e.g. no parameters, so no invalid request exists
            continue
        except Exception as exc:  # noqa: BLE001 - collected, reported together
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:1500]}"
    return ran, failures


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_openapi_conformance(served: tuple[FastAPI, str], mode: GenerationMode) -> None:
    ran, failures = _fuzz(*served, mode)
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    assert ran >= 15 * 5  # every operation got real cases


@pytest.fixture
def hostile(served: tuple[FastAPI, str]) -> TestClient:
    app, secret = served
    return TestClient(app, headers={"Authorization": f"Bearer {secret}"}, raise_server_exceptions=False)


def _assert_4xx(resp) -> None:  # type: ignore[no-untyped-def]
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    assert set(resp.json()["error"]) == {"code", "message", "field"}


JSON_ROUTES = ["/v1/events", "/v1/events/batch", "/v1/items", "/v1/tags", "/v1/items/delete"]
MALFORMED = [
    b"",
    b"{",
    b'{"user_id": "u", "type": "like",}',
    b"[1, 2",
    b"\xff\xfe\x00garbage",
    b'{"user_id": "u\x00", "type": "like"}',
    b"NaN",
    b'{"a": Infinity}',
    b'"\\ud800"',
    b"\x00" * 64,
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_json_is_4xx_everywhere(hostile: TestClient, body: bytes) -> None:
    before = hostile.app.state.engine.store.stats()  # type: ignore[attr-defined]
    for route in JSON_ROUTES:
        _assert_4xx(hostile.post(route, content=body, headers={"content-type": "application/json"}))
    _assert_4xx(hostile.put("/v1/users/ann", content=body, headers={"content-type": "application/json"}))
    assert hostile.app.state.engine.store.stats() == before  # type: ignore[attr-defined]


def test_deep_nesting_and_huge_payloads(hostile: TestClient) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    for route in JSON_ROUTES:
        _assert_4xx(hostile.post(route, content=deep, headers={"content-type": "application/json"}))
    nested = '{"user_id": "u", "type": "like", "context": ' + '{"device": ' * 5000 + "1" + "}" * 5001
    _assert_4xx(hostile.post("/v1/events", content=nested, headers={"content-type": "application/json"}))
    huge = (
        b'{"events": [' + b",".join([b'{"user_id":"u","item_id":"jazz-1","type":"view"}'] * 300_000) + b"]}"
    )
    assert len(huge) > 10_000_000
    resp = hostile.post("/v1/events/batch", content=huge, headers={"content-type": "application/json"})
    _assert_4xx(resp)
    too_big = b" " * (33 * 1024 * 1024)
    resp = hostile.post("/v1/events", content=too_big, headers={"content-type": "application/json"})
    assert resp.status_code == 413
    long_title = {"items": [{"id": "x", "title": "t" * 100_000}]}
    _assert_4xx(hostile.post("/v1/items", json=long_title))


ODD_STRINGS = [
    "\u202eevil",
    "e\u0301",
    "😀" * 10,
    "\ufeffbom",
    "a\u0000b",
    "\udcff",
    "../../etc/passwd",
    "' OR 1=1 --",
    "'; DROP TABLE events; --",
    '" OR ""="',
    "1; SELECT pg_sleep(10)",
    "%00",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    " " * 10,
    "x" * 10_000,
]


@pytest.mark.parametrize("text", ODD_STRINGS)
def test_odd_and_sql_looking_strings_change_nothing_and_never_500(hostile: TestClient, text: str) -> None:
    store = hostile.app.state.engine.store  # type: ignore[attr-defined]
    before = store.stats()
    for field in ("user_id", "item_id", "type", "surface", "recommendation_id", "id"):
        event = {"user_id": "u", "item_id": "jazz-1", "type": "like", field: text}
        resp = hostile.post(
            "/v1/events", content=json.dumps(event), headers={"content-type": "application/json"}
        )
        _assert_4xx(resp)
    assert store.stats() == before
    quoted = quote(text.encode("utf-8", "surrogatepass"), safe="")
    for path in (f"/v1/users/{quoted}/profile", f"/v1/items/{quoted}", f"/v1/users/{quoted}/export"):
        resp = hostile.get(path)
        assert resp.status_code < 500, (path, resp.status_code)
    resp = hostile.get(f"/v1/users/u/recommendations?surface={quoted}")
    _assert_4xx(resp)
    search = {"user_id": "u", "item_id": "jazz-1", "type": "search", "context": {"query": text[:512]}}
    ok = hostile.post("/v1/events", content=json.dumps(search), headers={"content-type": "application/json"})
    if "\x00" in text or "\ud800" <= text[:1] <= "\udfff":
        assert ok.status_code < 500
    else:
        assert ok.status_code == 200
        assert store.stats()["events"] == before["events"] + 1
        assert store.count("items") == len(media_items())  # the DROP TABLE did nothing


def test_bad_credentials_are_4xx_not_5xx(served: tuple[FastAPI, str]) -> None:
    client = TestClient(served[0], raise_server_exceptions=False)
    for header in (
        "Bearer ",
        "Bearer tut_",
        "Bearer tut_.",
        "Bearer tut_" + "A" * 5000,
        "Bearer tk_" + "f" * 12 + "_' OR 1=1 --",
        "Bearer \u00ff\u00fe",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "x" * 100_000,
    ):
        resp = client.get("/v1/users/ann/profile", headers={"Authorization": header.encode("latin-1")})
        assert resp.status_code == 401, header[:40]


@pytest.mark.postgres
def test_nul_in_free_text_is_4xx_on_postgresql(pg_store, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL text cannot hold NUL: it must be refused at the boundary, not crash the insert."""
    with Engine(settings, store=pg_store) as engine:
        client = TestClient(create_site(engine), raise_server_exceptions=False)
        for route, body in (
            ("/v1/items", {"items": [{"id": "n", "title": "a\x00b"}]}),
            ("/v1/tags", {"tags": [{"tag": "genre:n", "label": "a\x00b"}]}),
            ("/v1/events", {"user_id": "u", "type": "search", "context": {"query": "a\x00b"}}),
        ):
            _assert_4xx(client.post(route, json=body))
        assert pg_store.count("items") == 0 and pg_store.count("events") == 0
