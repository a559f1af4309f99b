"""The FastAPI application: versioned routes under /v1, structured errors, body limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

import tactful
from tactful.api.auth import Gatekeeper, deny_undeclared
from tactful.api.errors import ERROR_RESPONSES, install_error_handlers
from tactful.api.routes import admin, catalog, events, health, privacy, profile_control, promotions, users
from tactful.engine import Engine
from tactful.security.http import install_http_hardening

MAX_BODY_BYTES = 32 * 1024 * 1024


def create_app(engine: Engine, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """Build the API around an engine (the engine is injected, not created here).

    ``routers`` are mounted beside ``/v1`` (the web layer passes its pages here).
    """
    app = FastAPI(
        title="tactful",
        version=tactful.__version__,
        description="Personalization that learns from every signal and knows when to back off.",
        responses=ERROR_RESPONSES,
        dependencies=[Depends(deny_undeclared)],
    )
    app.state.engine = engine
    app.state.gatekeeper = Gatekeeper(engine)
    install_error_handlers(app)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse(
                {
                    "error": {
                        "code": "payload_too_large",
                        "message": f"body over {MAX_BODY_BYTES} bytes",
                        "field": None,
                    }
                },
                status_code=413,
            )
        return await call_next(request)

    for module in (health, catalog, events, users, profile_control, promotions, privacy, admin):
        app.include_router(module.router, prefix="/v1")
    for router in routers:
        app.include_router(router)
    install_http_hardening(app, engine.settings.http)
    return app
