"""The whole site: the HTTP API with the pages mounted beside it."""

from __future__ import annotations

from fastapi import FastAPI

from tactful.api.app import create_app
from tactful.engine import Engine
from tactful.web.pages import router as pages_router


def create_site(engine: Engine) -> FastAPI:
    """The API and the pages around one engine."""
    return create_app(engine, routers=[pages_router])
