"""The FastAPI application: versioned routes under /v1, structured errors, admission
(credentials before the body, body limits)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

import tactful
from tactful.api.admission import MAX_BODY_BYTES, Admission
from tactful.api.auth import Gatekeeper, deny_undeclared
from tactful.api.errors import ERROR_RESPONSES, install_error_handlers
from tactful.api.lanes import Lanes
from tactful.api.routes import admin, catalog, events, health, privacy, profile_control, promotions, users
from tactful.engine import Engine
from tactful.security.http import install_http_hardening

log = logging.getLogger("tactful.api")


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
    app.add_middleware(Admission, limit=MAX_BODY_BYTES)

    for module in (health, catalog, events, users, profile_control, promotions, privacy, admin):
        app.include_router(module.router, prefix="/v1")
    for router in routers:
        app.include_router(router)
    install_http_hardening(app, engine.settings.http)
    return app
