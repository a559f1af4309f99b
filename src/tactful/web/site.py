"""The whole site: the HTTP API with the pages mounted beside it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from tactful.api.app import create_app
from tactful.engine import Engine
from tactful.web.admin import router as admin_router
from tactful.web.admin_ops import router as admin_ops_router
from tactful.web.admission import PageAdmission
from tactful.web.demo import router as demo_router
from tactful.web.me import router as me_router
from tactful.web.messages import router as messages_router
from tactful.web.unsubscribe import router as unsubscribe_router

STATIC = Path(__file__).parent / "static"


def create_site(engine: Engine, on_shutdown: Sequence[Callable[[], object]] = ()) -> FastAPI:
    """The API and the pages around one engine, which the app closes when it shuts down."""
    app = create_app(
        engine,
        routers=[demo_router, me_router, messages_router, admin_router, admin_ops_router, unsubscribe_router],
        on_shutdown=on_shutdown,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(PageAdmission, demo=engine.settings.web.demo)
    return app
