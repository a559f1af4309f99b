"""Running the API under uvicorn, with one engine per worker process."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from tactful.api.app import create_app
from tactful.engine import Engine
from tactful.settings import Settings


def app_factory() -> FastAPI:
    """Entry point for uvicorn workers: settings come from the environment."""
    return create_app(Engine(Settings()))


def run_server(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    if workers > 1:
        os.environ["TACTFUL_DATA_DIR"] = str(settings.data_dir)
        if settings.database_url:
            os.environ["TACTFUL_DATABASE_URL"] = settings.database_url
        if not settings.auth.enabled:
            os.environ["TACTFUL_AUTH__ENABLED"] = "false"
        uvicorn.run("tactful.api.server:app_factory", factory=True, host=host, port=port, workers=workers)
        return
    engine = Engine(settings)
    uvicorn.run(create_app(engine), host=host, port=port)
