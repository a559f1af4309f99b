"""Every route, from the route table: no credentials → 401, wrong scope → 403, right scope → in.

A route added without ``requires(...)``/``public()`` fails ``test_every_route_declares_a_scope``
and is denied at runtime.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from tactful import Engine
from tactful.api.auth import ScopeGuard, route_table
from tactful.security.keys import Scope
from tactful.web.site import create_site
from tests.security.conftest import bearer

SAMPLE = {"user_id": "ann", "item_id": "jazz-1"}
DENIED = {401, 403}


def _requests(app: FastAPI) -> list[tuple[str, str, ScopeGuard]]:
    out = []
    for entry in route_table(app):
        guard = entry.guard
        assert guard is not None, entry.path
        if guard.session:  # the pages' cookie sessions: tests/web/test_page_privacy.py
            continue
        path = re.sub(r"{(\w+)}", lambda m: SAMPLE.get(m.group(1), "x1"), entry.path)
        if guard.person and "{" + guard.person + "}" not in entry.path:
            path += f"?{guard.person}=ann"
        for method in sorted(entry.methods - {"HEAD"}):
            out.append((method, path, guard))
    return out


def _call(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, path, json=body, headers=headers or {}).status_code


def test_every_route_declares_a_scope(secure_client: TestClient) -> None:
    table = route_table(secure_client.app)  # type: ignore[arg-type]
    assert len(table) >= 15
    missing = [(sorted(r.methods), r.path) for r in table if r.guard is None]
    assert missing == [], f"routes without requires(...)/public(): {missing}"


def test_a_route_without_a_scope_is_denied_even_with_auth_off(engine: Engine) -> None:
    app = create_site(engine)
    app.add_api_route("/v1/forgotten", lambda: {"ok": True}, methods=["GET"])
    router = APIRouter()
    router.add_api_route("/also-forgotten", lambda: {"ok": True}, methods=["POST"])
    app.include_router(router, prefix="/v1")
    client = TestClient(app)
    for method, path in (("GET", "/v1/forgotten"), ("POST", "/v1/also-forgotten")):
        resp = client.request(method, path)
        assert resp.status_code == 403 and "declares no scope" in resp.json()["error"]["message"]
    unguarded = sorted(r.path for r in route_table(app) if r.guard is None)
    assert unguarded == ["/v1/also-forgotten", "/v1/forgotten"]


def test_without_credentials_every_non_public_route_is_401(
    secure_client: TestClient, keys: dict[str, str]
) -> None:
    checked = 0
    for method, path, guard in _requests(secure_client.app):  # type: ignore[arg-type]
        status = _call(secure_client, method, path)
        if guard.public:
            assert status not in DENIED, (method, path)
            continue
        assert status == 401, (method, path, status)
        assert _call(secure_client, method, path, bearer(keys["revoked"])) == 401
        assert _call(secure_client, method, path, {"Authorization": "Basic abc"}) == 401
        checked += 1
    assert checked >= 14


def test_keys_open_exactly_their_scopes(secure_client: TestClient, keys: dict[str, str]) -> None:
    for method, path, guard in _requests(secure_client.app):  # type: ignore[arg-type]
        if guard.public:
            continue
        for scope in Scope:
            status = _call(secure_client, method, path, bearer(keys[scope.value]))
            allowed = scope is Scope.admin or scope in guard.scopes
            if allowed:
                assert status not in DENIED, (method, path, scope, status)
            else:
                assert status == 403, (method, path, scope, status)
        # X-API-Key works too
        best = next(iter(guard.scopes)).value
        assert _call(secure_client, method, path, {"X-API-Key": keys[best]}) not in DENIED


def test_user_tokens_open_only_the_persons_own_routes(
    secure_client: TestClient, secure_engine: Engine
) -> None:
    other = bearer(secure_engine.issue_user_token("bob"))
    person_routes = 0
    for method, path, guard in _requests(secure_client.app):  # type: ignore[arg-type]
        if guard.public:
            continue
        # fresh each time: erasure and DELETE .../tokens revoke the caller's own tokens
        own = bearer(secure_engine.issue_user_token("ann"))
        if guard.person is None:
            assert _call(secure_client, method, path, own) == 403, (method, path)
            continue
        person_routes += 1
        other_status = _call(secure_client, method, path, other)
        assert other_status == 403, (method, path)
        assert _call(secure_client, method, path, own) not in DENIED, (method, path)
    assert person_routes >= 6  # recommendations, profile, person get/put, export, erase, tokens


def test_expired_and_tampered_tokens_are_401(secure_client: TestClient, secure_engine: Engine) -> None:
    token = secure_engine.issue_user_token("ann", ttl_seconds=60)
    assert secure_client.get("/v1/users/ann/profile", headers=bearer(token)).status_code == 200
    tampered = token[:-3] + ("xyz" if not token.endswith("xyz") else "abc")
    resp = secure_client.get("/v1/users/ann/profile", headers=bearer(tampered))
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    secure_engine.clock.advance(seconds=61)  # type: ignore[attr-defined]
    resp = secure_client.get("/v1/users/ann/profile", headers=bearer(token))
    assert resp.status_code == 401 and resp.json()["error"]["message"] == "token expired"


def test_route_table_is_complete(secure_client: TestClient) -> None:
    paths = {r.path for r in route_table(secure_client.app)}  # type: ignore[arg-type]
    for expected in ("/v1/users/{user_id}/export", "/v1/audit", "/v1/users/{user_id}/tokens"):
        assert expected in paths
