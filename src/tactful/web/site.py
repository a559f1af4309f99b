"""The whole site: the HTTP API with the pages mounted beside it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import FastAPI

from tactful.api.app import create_app
from tactful.engine import Engine
from tactful.web.pages import router as pages_router
from tactful.web.unsubscribe import router as unsubscribe_router


def create_site(engine: Engine, on_shutdown: Sequence[Callable[[], object]] = ()) -> FastAPI:
    """The API and the pages around one engine, which the app closes when it shuts down."""
    return create_app(engine, routers=[pages_router, unsubscribe_router], on_shutdown=on_shutdown)
