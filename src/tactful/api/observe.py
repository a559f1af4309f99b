"""Every request measured and named: latency per route, a request id, one access line.

:class:`Observe` is a pure ASGI middleware, outermost, so what it measures includes
admission, authentication and errors. It

- takes the caller's ``X-Request-ID`` when it is a short plain token, else makes one, sets
  it for every log line the request causes (:data:`tactful.logs.request_id`) and echoes it
  in the response's ``X-Request-ID`` header;
- observes ``tactful_http_request_duration_seconds`` by the route's *template*
  (``/v1/users/{user_id}/recommendations``, never the path with a person id in it),
  method and status; an unmatched path counts as ``unmatched``;
- with ``access_log``, logs one line per request (method, route, status, duration), which in
  JSON mode a log shipper can index by request id.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tactful.ids import token_hex
from tactful.logs import request_id
from tactful.metrics import metrics

HEADER = b"x-request-id"
_VALID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
access = logging.getLogger("tactful.access")


class Observe:
    """``paths`` gives each route's full template by ``id(route)`` (a route in an included
    router knows only its own part); it is read once, at the first request."""

    def __init__(
        self, app: ASGIApp, access_log: bool = True, paths: Callable[[], dict[int, str]] | None = None
    ) -> None:
        self.app = app
        self.access_log = access_log
        self._paths_from = paths
        self._paths: dict[int, str] | None = None

    def route_template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        if self._paths is None:
            self._paths = self._paths_from() if self._paths_from is not None else {}
        found = self._paths.get(id(route))
        if found is not None:
            return found
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == HEADER), None)
        rid = given.decode() if given is not None and _VALID.match(given) else token_hex(8)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        encoded = rid.encode()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                headers.append((HEADER, encoded))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = self.route_template(scope)
            method = scope.get("method", "")
            metrics().request_seconds.labels(route, method, str(status)).observe(elapsed)
            if self.access_log:
                access.info(
                    "%s %s %d %.1f ms",
                    method,
                    route,
                    status,
                    elapsed * 1000,
                    extra={"method": method, "route": route, "status": status, "duration_ms": elapsed * 1000},
                )
            request_id.reset(token)
