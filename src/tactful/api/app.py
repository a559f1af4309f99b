"""The FastAPI application: versioned routes under /v1, structured errors, body limits."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import tactful
from tactful.api.auth import Gatekeeper, deny_undeclared
from tactful.api.errors import ERROR_RESPONSES, install_error_handlers
from tactful.api.lanes import Lanes
from tactful.api.routes import admin, catalog, events, health, privacy, profile_control, promotions, users
from tactful.engine import Engine
from tactful.security.http import install_http_hardening

MAX_BODY_BYTES = 32 * 1024 * 1024
log = logging.getLogger("tactful.api")


class BodyLimit:
    """Pure ASGI middleware: bodies over ``limit`` bytes get 413 before they are read.

    A declared ``Content-Length`` is checked up front; a body without one (chunked) is
    counted as it arrives.
    """

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
        length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
                break
        if length is None:
            await self.app(scope, self._counting(receive), send)
        elif length.isdigit() and int(length) <= self.limit:
            await self.app(scope, receive, send)
        else:
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(self.refusal)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": self.refusal})

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise StarletteHTTPException(413, self.message)
            return message

        return counted


def create_app(
    engine: Engine,
    routers: Sequence[APIRouter] = (),
    on_shutdown: Sequence[Callable[[], object]] = (),
) -> FastAPI:
    """Build the API around an engine (the engine is injected, not created here).

    ``routers`` are mounted beside ``/v1`` (the web layer passes its pages here). When the
    app shuts down (its ASGI lifespan), it finishes the requests it admitted, calls
    ``on_shutdown`` (e.g. stopping a retrainer), then closes the engine, which writes the
    served lists and back-off counters still buffered.
    """
    lanes = Lanes(engine.settings.serving)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(shutdown)

    def shutdown() -> None:
        lanes.shutdown(wait=True)
        for stop in on_shutdown:
            try:
                stop()
            except Exception:
                log.exception("shutdown step %r failed", stop)
        engine.close()

    app = FastAPI(
        title="tactful",
        version=tactful.__version__,
        description="Personalization that learns from every signal and knows when to back off.",
        responses=ERROR_RESPONSES,
        dependencies=[Depends(deny_undeclared)],
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.lanes = lanes
    app.state.gatekeeper = Gatekeeper(engine)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    for module in (health, catalog, events, users, profile_control, promotions, privacy, admin):
        app.include_router(module.router, prefix="/v1")
    for router in routers:
        app.include_router(router)
    install_http_hardening(app, engine.settings.http)
    return app
