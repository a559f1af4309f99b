"""Nothing of a page form is read before it is admitted, as for the API (see api/admission.py).

The page routes authenticate with their own cookies, so the API's header check cannot
vet them. This pure ASGI middleware does, from the headers alone, before a byte of the
body is received: a form to ``/me/…`` needs the person's session cookie, one to
``/admin/…`` (but the sign-in) the operator's, one to ``/demo/…`` demo mode, and every one
the CSRF cookie (the token itself is checked by the route). A page form is small: a
declared length over :data:`MAX_FORM_BYTES` is refused unread, and a chunked body stops
being read at the first byte over it.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tactful.web.guard import ADMIN_COOKIE, CSRF_COOKIE, ME_COOKIE

MAX_FORM_BYTES = 64 * 1024
PAGE_PREFIXES = ("/me", "/admin", "/demo")


def _cookies(scope: Scope) -> set[str]:
    names: set[str] = set()
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, sep, _ = part.strip().partition("=")
                if sep:
                    names.add(key)
    return names


def _refusal(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()


class PageAdmission:
    def __init__(self, app: ASGIApp, demo: bool, limit: int = MAX_FORM_BYTES) -> None:
        self.app = app
        self.demo = demo
        self.limit = limit

    def _check(self, scope: Scope) -> tuple[int, bytes] | None:
        path: str = scope.get("path", "")
        if not path.startswith(PAGE_PREFIXES) or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return None
        cookies = _cookies(scope)
        if path.startswith("/demo") and not self.demo:
            return _refusal(404, "not_found", "the demo pages are served only in demo mode")
        if path.startswith("/me/") and ME_COOKIE not in cookies:
            return _refusal(401, "unauthorized", "open your personal link first")
        if path.startswith("/admin/") and path != "/admin/signin" and ADMIN_COOKIE not in cookies:
            return _refusal(401, "unauthorized", "sign in to the dashboard first")
        if CSRF_COOKIE not in cookies:
            return _refusal(
                400, "csrf_rejected", "this form did not come from a page of this site: reload it"
            )
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                return _refusal(413, "payload_too_large", f"a page form holds at most {self.limit} bytes")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self._check(scope)
        if refused is not None:
            status, body = refused
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        path: str = scope.get("path", "")
        if path.startswith(PAGE_PREFIXES) and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            receive = self._counting(receive)
        await self.app(scope, receive, send)

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    from starlette.exceptions import HTTPException

                    raise HTTPException(413, f"a page form holds at most {self.limit} bytes")
            return message

        return counted
