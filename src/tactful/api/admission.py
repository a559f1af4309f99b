"""Nothing is read before it is authorised: credentials are checked before the body, and the
body is counted while it streams.

FastAPI reads and parses a route's JSON body *before* it runs the route's dependencies, so
the scope check (:class:`~tactful.api.auth.ScopeGuard`) alone would let anyone make the
server read and parse up to the body limit before answering 401. :class:`Admission` is a
pure ASGI middleware in front of every route (API and pages):

- A request that carries a body (a ``Content-Length`` above 0, or a chunked
  ``Transfer-Encoding``) to a non-public route is **authenticated first**, from its headers
  alone: no credential or a wrong one gets its 401 before a byte of the body is received.
  The principal found is handed on, so the route's scope check (403 for a valid credential
  out of scope) does not verify it twice.
- A declared ``Content-Length`` over the limit gets 413 at once; a body without one is
  **counted as it arrives** and the read stops with 413 at the first byte over the limit,
  whatever the route does with it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tactful.api.auth import PREAUTHENTICATED, Gatekeeper, route_table
from tactful.api.errors import error_response
from tactful.api.lanes import Lanes
from tactful.errors import TactfulError, Unauthorized

MAX_BODY_BYTES = 32 * 1024 * 1024


def _has_body(scope: Scope) -> tuple[bool, bytes | None]:
    """(whether the request carries a body, its declared Content-Length if any)."""
    length: bytes | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name == b"transfer-encoding":
            chunked = True
    if length is not None:
        return (not length.isdigit() or int(length) > 0), length
    return chunked, None


class Admission:
    """Authenticate before the body is read; refuse bodies over ``limit`` bytes while they stream."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit
        self.message = f"body over {limit} bytes"
        self.refusal = json.dumps(
            {"error": {"code": "payload_too_large", "message": self.message, "field": None}}
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_body, length = _has_body(scope)
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._too_large(send)
            return
        if has_body:
            refused = await self._authenticate(scope)
            if refused is not None:
                await refused(scope, _no_body, send)  # answered without reading the body
                return
        await self.app(scope, receive if length is not None else self._counting(receive), send)

    async def _authenticate(self, scope: Scope) -> Any:
        """None to go on (with the principal handed on), or the response that refuses."""
        app = scope.get("app")
        gate: Gatekeeper | None = getattr(getattr(app, "state", None), "gatekeeper", None)
        if gate is None or not gate.enabled or _is_public(app, scope):
            return None
        request = Request(scope)  # headers only: it has no way to read the body
        lanes: Lanes = app.state.lanes  # type: ignore[union-attr]
        try:  # key lookups block: off the event loop, like the scope check
            principal = await lanes.write.run(gate.authenticate_throttled, request)
            if principal is None:
                raise Unauthorized(
                    "missing credentials: send 'Authorization: Bearer <API key or user token>'"
                )
        except TactfulError as exc:
            return error_response(exc)
        scope.setdefault("state", {})[PREAUTHENTICATED] = principal
        return None

    async def _too_large(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.refusal)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.refusal})

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            if seen > self.limit:  # a route that swallowed the first refusal reads no further
                raise StarletteHTTPException(413, self.message)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise StarletteHTTPException(413, self.message)
            return message

        return counted


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _is_public(app: Any, scope: Scope) -> bool:
    """Whether the request goes to a route declared ``public()`` (those take no credentials).

    Public routes (the health check) have fixed paths; the set is built once per app.
    """
    public: frozenset[str] | None = getattr(app.state, "_public_paths", None)
    if public is None:
        public = frozenset(r.path for r in route_table(app) if r.guard is not None and r.guard.public)
        app.state._public_paths = public
    return scope["path"] in public
