"""Running the API under uvicorn, with one engine per worker process."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from tactful.config.settings import Settings
from tactful.engine import Engine
from tactful.services.retrainer import Retrainer
from tactful.web.site import create_site


def app_factory() -> FastAPI:
    """Entry point for uvicorn workers: settings come from the environment."""
    settings = Settings()
    limit_blas(settings)
    return create_site(Engine(settings))


def start_retrainer(engine: Engine) -> Retrainer:
    """Scheduled retraining in this process (the supervisor when there are several workers)."""
    cfg = engine.settings.models
    retrainer = Retrainer(
        engine.train,
        engine.store.last_event_seq,
        every_s=cfg.retrain_every_minutes * 60,
        after_events=cfg.retrain_after_events,
        due_now=engine.models.current is None,
        poll_s=min(30.0, max(1.0, cfg.reload_check_seconds * 5)),
    )
    retrainer.start()
    return retrainer


def limit_blas(settings: Settings) -> None:
    """Serving scores one person at a time: a single BLAS thread is faster and steadier."""
    if settings.models.serving_blas_threads > 0:
        threadpool_limits(settings.models.serving_blas_threads)


def run_server(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    limit_blas(settings)
    if workers > 1:
        start_retrainer(Engine(settings))
        os.environ["TACTFUL_DATA_DIR"] = str(settings.data_dir)
        if settings.database_url:
            os.environ["TACTFUL_DATABASE_URL"] = settings.database_url
        if not settings.auth.enabled:
            os.environ["TACTFUL_AUTH__ENABLED"] = "false"
        uvicorn.run("tactful.cli.server:app_factory", factory=True, host=host, port=port, workers=workers)
        return
    engine = Engine(settings)
    start_retrainer(engine)
    uvicorn.run(create_site(engine), host=host, port=port)
