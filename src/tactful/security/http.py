"""Security headers on every response, and CORS for the configured origins only."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tactful.config.security import HttpSettings

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The interactive docs load Swagger UI / ReDoc from this server (no CDN) and bootstrap them inline.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src blob:; frame-ancestors 'none'; base-uri 'none'"
)
COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
DOCS_PATHS = ("/docs", "/redoc")


def policy_for(path: str) -> str:
    if path.startswith(DOCS_PATHS):
        return DOCS_CSP
    if path.startswith("/v1/") or path == "/openapi.json":
        return API_CSP
    return PAGE_CSP


def _encoded(path: str) -> tuple[tuple[bytes, bytes], ...]:
    extra = {**COMMON, "content-security-policy": policy_for(path)}
    if path.startswith("/v1/"):
        extra["cache-control"] = "no-store"
    return tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in extra.items())


# The header sets a response can get, encoded once (keyed by the policy's sample path).
_API_HEADERS = _encoded("/v1/")
_SCHEMA_HEADERS = _encoded("/openapi.json")
_DOCS_HEADERS = _encoded("/docs")
_PAGE_HEADERS = _encoded("/")


def headers_for(path: str) -> tuple[tuple[bytes, bytes], ...]:
    if path.startswith("/v1/"):
        return _API_HEADERS
    if path.startswith(DOCS_PATHS):
        return _DOCS_HEADERS
    return _SCHEMA_HEADERS if path == "/openapi.json" else _PAGE_HEADERS


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers unless the response already set them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(pair for pair in extra if pair[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_http_hardening(app: FastAPI, settings: HttpSettings) -> None:
    """Add CORS (only when origins are configured) and the security headers to ``app``."""
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["authorization", "content-type", "x-api-key"],
            expose_headers=["retry-after"],
            allow_credentials=False,
            max_age=600,
        )
    if settings.security_headers:
        app.add_middleware(SecurityHeaders)
