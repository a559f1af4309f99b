"""Nothing is read before it is authorised, and no body is read past the limit.

The ASGI tests drive the app directly with a ``receive`` that records what the app pulled
from the client, so "the body was not read" is observed, not inferred. The last test sends
real chunked bodies to a real server process and bounds its peak resident memory.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tactful import Engine
from tactful.api.admission import MAX_BODY_BYTES
from tactful.web.site import create_site
from tests.security.conftest import bearer

CHUNK = 1024 * 1024


class Client:
    """A client that streams ``chunks`` body chunks and records how many the app read."""

    def __init__(self, chunks: int, chunk: bytes = b" " * CHUNK) -> None:
        self.chunks = chunks
        self.chunk = chunk
        self.read = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.read >= self.chunks:
            return {"type": "http.disconnect"}
        self.read += 1
        return {"type": "http.request", "body": self.chunk, "more_body": self.read < self.chunks}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(next(m["status"] for m in self.sent if m["type"] == "http.response.start"))

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def _call(app: Any, method: str, path: str, client: Client, headers: dict[str, str]) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, client.receive, client.send))


ROUTES = [
    ("POST", "/v1/events/batch"),
    ("POST", "/v1/events"),
    ("POST", "/v1/items"),
    ("POST", "/v1/tags"),
    ("PUT", "/v1/users/ann"),
    ("PUT", "/v1/users/ann/consent"),
    ("POST", "/v1/users/ann/rerank"),
    ("POST", "/v1/promotions"),
    ("PATCH", "/v1/promotions/p1"),
    ("POST", "/v1/users/ann/tokens"),
    ("POST", "/v1/users/ann/undo"),
    ("PATCH", "/v1/users/ann/message-preferences"),
    ("POST", "/v1/messages/plan"),
    ("POST", "/v1/messages/feedback"),
    ("POST", "/v1/experiments"),
    ("POST", "/me/interest"),
    ("POST", "/me/messages"),
    ("POST", "/me/messages/pause"),
    ("POST", "/admin/catalog/item"),
    ("POST", "/admin/experiments/action"),
    ("POST", "/v1/no-such-route"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("credential", [None, "tk_wrong", "tut_forged.token"])
def test_a_body_without_valid_credentials_is_refused_before_any_of_it_is_read(
    secure_engine: Engine, method: str, path: str, credential: str | None
) -> None:
    app = create_site(secure_engine)
    for framing in ({"transfer-encoding": "chunked"}, {"content-length": str(8 * CHUNK)}):
        client = Client(chunks=8)
        headers = {"content-type": "application/json", **framing}
        if credential is not None:
            headers.update(bearer(credential))
        _call(app, method, path, client, headers)
        assert client.status == 401, (path, framing, client.body)
        assert client.read == 0, f"{path} read {client.read} chunks before its 401"
        assert b'"unauthorized"' in client.body


def test_a_valid_credential_out_of_scope_is_403_after_authentication(
    secure_engine: Engine, keys: dict[str, str]
) -> None:
    client = Client(chunks=1, chunk=b'{"events": [{"user_id": "u", "type": "search"}]}')
    headers = {"content-type": "application/json", "transfer-encoding": "chunked", **bearer(keys["serve"])}
    _call(create_site(secure_engine), "POST", "/v1/events/batch", client, headers)
    assert client.status == 403


def test_a_valid_credential_in_scope_still_works(secure_engine: Engine, keys: dict[str, str]) -> None:
    client = Client(chunks=1, chunk=b'{"events": [{"user_id": "u", "type": "search"}]}')
    headers = {"content-type": "application/json", "transfer-encoding": "chunked", **bearer(keys["ingest"])}
    _call(create_site(secure_engine), "POST", "/v1/events/batch", client, headers)
    assert client.status == 200, client.body


@pytest.mark.parametrize(("method", "path"), ROUTES[:-1])
def test_an_authenticated_chunked_body_stops_being_read_at_the_limit(
    secure_engine: Engine, keys: dict[str, str], method: str, path: str
) -> None:
    limit_chunks = MAX_BODY_BYTES // CHUNK
    client = Client(chunks=limit_chunks * 4, chunk=b"a" * CHUNK)
    page = path.startswith(("/me/", "/admin/"))
    kind = "application/x-www-form-urlencoded" if page else "application/json"
    headers = {"content-type": kind, "transfer-encoding": "chunked", **bearer(keys["admin"])}
    _call(create_site(secure_engine), method, path, client, headers)
    # a page form is refused from its headers: without the page's session cookie an API key is no session
    assert client.status == 413 or (page and client.status == 401 and client.read == 0), (path, client.body)
    assert client.read <= limit_chunks + 1, f"{path} read {client.read} MiB of a {limit_chunks} MiB limit"


def test_a_declared_length_over_the_limit_is_refused_unread(
    secure_engine: Engine, keys: dict[str, str]
) -> None:
    client = Client(chunks=40)
    headers = {"content-length": str(MAX_BODY_BYTES + 1), **bearer(keys["admin"])}
    _call(create_site(secure_engine), "POST", "/v1/items", client, headers)
    assert client.status == 413 and client.read == 0


def test_public_routes_and_bodiless_requests_need_no_pre_authentication(secure_engine: Engine) -> None:
    client = Client(chunks=1, chunk=b"{}")
    _call(create_site(secure_engine), "GET", "/v1/health", client, {"content-length": "2"})
    assert client.status == 200
    client = Client(chunks=0)
    _call(create_site(secure_engine), "GET", "/v1/users/ann/profile", client, {})
    assert client.status == 401  # the route's own check, as before


# -- a real server -------------------------------------------------------------------------


def _benchmark() -> Any:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "body_memory.py"
    spec = importlib.util.spec_from_file_location("body_memory", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["body_memory"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_unauthenticated_chunked_bodies_do_not_grow_a_real_servers_memory(tmp_path: Path) -> None:
    bench = _benchmark()
    proc, base, key = bench.start_server(tmp_path / "data")
    try:
        _, peak0 = bench._memory_kb(proc.pid)
        for path in ("/v1/events/batch", "/v1/items", "/me/interest"):
            status = bench.send(base + path, bench._events(30), {"Content-Type": "application/json"})
            assert status == 401, (path, status)
            status = bench.send(base + path, bench._body(128), {"Content-Type": "application/json"})
            assert status in (401, "WriteError", "RemoteProtocolError"), (path, status)
        time.sleep(0.3)
        _, peak = bench._memory_kb(proc.pid)
        assert (peak - peak0) // 1024 < 24, f"peak RSS grew {(peak - peak0) // 1024} MB without credentials"
        # a valid key may send up to the limit, and no further
        status = bench.send(base + "/v1/events/batch", bench._body(256), bearer(key))
        assert status in (413, "WriteError", "RemoteProtocolError"), status
        _, peak = bench._memory_kb(proc.pid)
        grown = (peak - peak0) // 1024
        assert grown < 3 * MAX_BODY_BYTES // CHUNK, f"peak RSS grew {grown} MB reading to the limit"
        assert httpx.get(f"{base}/v1/health", timeout=5).status_code == 200  # still serving
    finally:
        proc.terminate()
        proc.wait(timeout=30)
