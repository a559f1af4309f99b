"""The published schema says what the server enforces, and the protocol edges keep the SPEC shape."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful import Engine
from tactful.domain.identifiers import TAG_PATTERN, check_tag
from tactful.web.site import create_site
from tests.conftest import media_items
from tests.web.conftest import free_port


@pytest.fixture
def open_site(engine: Engine) -> Iterator[tuple[FastAPI, TestClient]]:
    engine.upsert_items(media_items())
    app = create_site(engine)
    yield app, TestClient(app, raise_server_exceptions=False)


def _schema(doc: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    ref = ref_or_schema.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else ref_or_schema


TAG_RE = re.compile(TAG_PATTERN)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=140), st.from_regex(TAG_PATTERN, fullmatch=True)))
def test_the_published_tag_pattern_is_the_rule(text: str) -> None:
    """A generated client that checks the pattern agrees with the server on every string."""
    try:
        check_tag(text)
        accepted = True
    except ValueError:
        accepted = False
    # refused apart: lone surrogates (not in a JSON string) and invisible characters beyond the
    # BMP (an ECMA-262 class without the u flag cannot name them)
    apart = any(
        "\ud800" <= c <= "\udfff" or (ord(c) > 0xFFFF and unicodedata.category(c) in ("Cc", "Cf"))
        for c in text
    )
    assert accepted == (bool(TAG_RE.match(text)) and not apart), repr(text)


def test_tags_are_case_insensitive(open_site: tuple[FastAPI, TestClient]) -> None:
    _, client = open_site
    muted = client.post("/v1/users/u/mutes/Topic:Wedding").json()["muted_topics"]
    assert muted == ["topic:wedding"]
    assert client.delete("/v1/users/u/mutes/topic:WEDDING").json()["muted_topics"] == []


def test_schema_carries_the_server_rules(open_site: tuple[FastAPI, TestClient]) -> None:
    app, client = open_site
    doc = client.get("/openapi.json").json()
    event = doc["components"]["schemas"]["Event"]
    assert event["properties"]["type"]["enum"] == sorted(app.state.engine.rules.rules)
    branches = [b["properties"]["type"]["enum"] for b in event["anyOf"] if "type" in b.get("properties", {})]
    assert len(branches) == 1 and "search" in branches[0] and "like" not in branches[0]
    promo = doc["components"]["schemas"]["PromotionSpec"]
    assert {tuple(b["required"]) for b in promo["anyOf"]} == {("items",), ("tags",)}
    tag_params = [
        p["schema"]
        for path in doc["paths"].values()
        for op in path.values()
        for p in op.get("parameters", [])
        if p["name"] == "tag"
    ]
    assert tag_params and all(s["pattern"] == TAG_PATTERN for s in tag_params)
    assert doc["components"]["schemas"]["Item"]["properties"]["tags"]["items"]["pattern"] == TAG_PATTERN
    assert "Europe/Paris" in doc["components"]["schemas"]["Person"]["properties"]["timezone"]["enum"]


def test_security_schemes_operation_ids_and_examples(open_site: tuple[FastAPI, TestClient]) -> None:
    _, client = open_site
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    ids = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            ids.append(op["operationId"])
            assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+)*", op["operationId"]), op["operationId"]
            public = path in ("/v1/health", "/v1/health/live", "/v1/health/ready")
            expected = [] if public else [{"bearer": []}, {"apiKey": []}]
            assert op["security"] == expected, (method, path)
            body = op.get("requestBody")
            if body is not None:
                schema = _schema(doc, body["content"]["application/json"]["schema"])
                assert schema.get("examples"), (method, path)
    assert len(ids) == len(set(ids))
    assert "getRecommendations" in ids and "recordEvent" in ids


def test_request_body_examples_are_accepted(open_site: tuple[FastAPI, TestClient]) -> None:
    """Each example is valid input: the server answers it with a success or a not-found."""
    _, client = open_site
    doc = client.get("/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody")
            if body is None:
                continue
            url = (
                path.replace("{user_id}", "u1")
                .replace("{promotion_id}", "p1")
                .replace("{experiment_id}", "e1")
            )
            for example in _schema(doc, body["content"]["application/json"]["schema"])["examples"]:
                resp = client.request(method.upper(), url, json=example)
                assert resp.status_code in (200, 201, 404), (method, path, resp.text)


def test_docs_are_served_from_the_package_with_authorize(open_site: tuple[FastAPI, TestClient]) -> None:
    _, client = open_site
    page = client.get("/docs")
    assert page.status_code == 200 and "https://" not in page.text  # nothing from a CDN
    scripts = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert scripts and all(s.startswith("/docs/static/") for s in scripts), scripts
    for asset in scripts:
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 200


def test_405_lists_every_method_of_the_path(open_site: tuple[FastAPI, TestClient]) -> None:
    _, client = open_site
    cases = {
        ("OPTIONS", "/v1/items/x"): {"GET", "HEAD", "DELETE"},
        ("PATCH", "/v1/users/u"): {"GET", "HEAD", "PUT", "DELETE"},
        ("OPTIONS", "/v1/promotions"): {"GET", "HEAD", "POST"},
        ("PUT", "/v1/promotions/p"): {"GET", "HEAD", "PATCH", "DELETE"},
        ("GET", "/v1/events"): {"POST"},
        ("OPTIONS", "/v1/items/delete"): {"POST"},  # as in OpenAPI, the concrete path wins
        ("PUT", "/v1/users/u/mutes/a:b"): {"POST", "DELETE"},
    }
    for (method, path), allowed in cases.items():
        resp = client.request(method, path)
        assert resp.status_code == 405, (method, path)
        assert {m.strip() for m in resp.headers["allow"].split(",")} == allowed, (method, path)
        assert resp.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/users/u/consent", {"personalization": 0}, "personalization"),
        ("/v1/users/u/consent", {"personalization": "false"}, "personalization"),
        ("/v1/events", {"user_id": "u", "item_id": "jazz-1", "type": "play", "value": "12"}, "value"),
        ("/v1/events", {"user_id": "u", "item_id": "jazz-1", "type": "play", "value": True}, "value"),
        ("/v1/events", {"user_id": "u", "item_id": "jazz-1", "type": "like", "timestamp": 0}, "timestamp"),
        ("/v1/events", {"user_id": "u", "item_id": "jazz-1", "type": "like", "timestamp": "17"}, "timestamp"),
        ("/v1/items", {"items": [{"id": "z", "created_at": 0}]}, "items[0].created_at"),
        ("/v1/items", {"items": [{"id": "z", "attributes": {"price": "9.5"}}]}, "items[0].attributes.price"),
        ("/v1/promotions", {"tags": ["genre:jazz"], "cap": "3"}, "cap"),
        ("/v1/users/u/tokens", {"ttl_seconds": "3600"}, "ttl_seconds"),
    ],
)
def test_scalars_take_only_their_json_type(
    open_site: tuple[FastAPI, TestClient], path: str, body: dict[str, Any], field: str
) -> None:
    _, client = open_site
    before = client.app.state.engine.store.stats()  # type: ignore[attr-defined]
    method = "PUT" if path.endswith("consent") else "POST"
    resp = client.request(method, path, json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == field
    assert client.app.state.engine.store.stats() == before  # type: ignore[attr-defined]


def test_csv_import_still_reads_text_numbers(tmp_path: Path, engine: Engine) -> None:
    engine.upsert_items(media_items())
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,type,value,timestamp\nu,jazz-1,play,212,1700000000\n")
    from tactful.importers.records import read_events

    batch = next(iter(read_events(path)))
    assert batch[0].value == 212.0 and batch[0].timestamp is not None


def test_status_for_well_formed_but_unknown_or_conflicting(open_site: tuple[FastAPI, TestClient]) -> None:
    _, client = open_site
    unknown = client.post("/v1/users/u/rerank", json={"items": ["jazz-1", "nope"]})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_item"
    other = client.put("/v1/users/u", json={"id": "v"})
    assert other.status_code == 409 and other.json()["error"]["field"] == "id"
    assert client.put("/v1/users/u", json={"timezone": "UTC"}).json()["id"] == "u"
    created = client.post("/v1/promotions", json={"id": "p9", "tags": ["genre:jazz"]})
    assert created.status_code == 201
    assert client.delete("/v1/promotions/p9").json()["status"] == "ended"
    assert client.get("/v1/promotions/p9").status_code == 404  # deleted means gone from its URL
    listed = client.get("/v1/promotions?include_ended=true").json()["promotions"]
    assert [p["id"] for p in listed] == ["p9"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    data = tmp_path_factory.mktemp("edge-server")
    port = free_port()
    cmd = [sys.executable, "-m", "tactful.cli.main", "serve", "--data-dir", str(data), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield "127.0.0.1", port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _raw(host: str, port: int, payload: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.slow
@pytest.mark.parametrize(
    "payload",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["request-line", "header", "content-length", "chunked"],
)
def test_protocol_level_400s_are_json(live: tuple[str, int], payload: bytes) -> None:
    answer = _raw(*live, payload)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"content-type: application/json" in head.lower()
    assert body == b'{"error":{"code":"bad_request","message":"invalid HTTP request","field":null}}'
