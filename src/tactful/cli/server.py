"""Running the API under uvicorn, with one engine per worker process.

Each worker's app closes its engine when uvicorn shuts it down (SIGINT or SIGTERM), which
writes the served lists and back-off counters still buffered; the retrainer, which runs in
the process that started the server, is stopped first.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import typer
import uvicorn
from fastapi import FastAPI
from threadpoolctl import threadpool_limits
from uvicorn.supervisors import Multiprocess

from tactful import logs
from tactful.api.protocol import JsonErrorH11Protocol
from tactful.cli.console import console
from tactful.config.settings import Settings
from tactful.engine import Engine
from tactful.errors import TactfulError
from tactful.metrics import MULTIPROC_ENV, use_multiprocess
from tactful.services.experiments import ExperimentTicker
from tactful.services.retrainer import Retrainer
from tactful.web.site import create_site


def app_factory() -> FastAPI:
    """Entry point for uvicorn workers: settings come from the environment."""
    settings = Settings()
    logs.configure(settings.serving.log_format, settings.serving.log_level)
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


def mask_password(url: str) -> str:
    """``scheme://user:secret@host/db`` with the secret replaced by ``***``."""
    return re.sub(r"^([\w+.-]+://[^:/@]*:)[^@]*@", r"\1***@", url)


def startup_summary(engine: Engine, host: str, port: int, workers: int) -> list[str]:
    """What `tactful serve` says before it starts listening."""
    settings = engine.settings
    shown_host = f"[{host}]" if ":" in host else host
    base = f"http://{shown_host}:{port}"
    serving = settings.serving
    auth = "on: API keys required" if settings.auth.enabled else "OFF: anyone who can reach it"
    return [
        f"data folder   {settings.data_dir.resolve()}",
        f"database      {mask_password(settings.resolved_database_url)}",
        f"model         {engine.models.version or 'no model yet'}",
        f"auth          {auth}",
        f"workers       {workers} × ({serving.read_threads} read + {serving.write_threads} write threads, "
        f"queue {serving.queue})",
        f"listening on  {base}   API docs: {base}/docs",
    ]


def tcp_socket(family: socket.AddressFamily, reuse_port: bool) -> socket.socket:
    """A TCP socket created as one (``IPPROTO_TCP``), optionally with ``SO_REUSEPORT``.

    uvicorn binds with protocol 0, and asyncio then never sets TCP_NODELAY on accepted
    connections, so each keep-alive response waits for the client's delayed ACK (~40 ms).
    """
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock


def worker_listener(host: str, port: int) -> socket.socket:
    """One worker's own listening socket on the shared port (built in the worker process)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = tcp_socket(family, reuse_port=True)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class PortReservation(socket.socket):
    """The supervisor's hold on the port: bound with ``SO_REUSEPORT`` but never listening.

    Each worker gets a listening socket of its own on the same port instead of sharing one:
    this object unpickles, in the worker, as :func:`worker_listener`. With one shared socket,
    whichever worker wakes first accepts every pending connection at once (asyncio accepts
    in a loop), so a client that opens its keep-alive connections together (a load balancer,
    wrk) could land all of them on one worker and two workers served like one. With a socket
    per worker the kernel spreads connections over the workers by their addresses. Binding
    here first makes a port in use fail at start-up, once, with a clear error.
    """

    def __init__(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.bind((host, port))
        self.address = (host, int(self.getsockname()[1]))

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return worker_listener, self.address


def listeners(config: uvicorn.Config) -> list[socket.socket]:
    """What the supervisor hands its workers: a port reservation (a socket per worker) where
    the platform has ``SO_REUSEPORT``, else one shared TCP socket."""
    if hasattr(socket, "SO_REUSEPORT") and not config.uds and config.fd is None:
        return [PortReservation(config.host, config.port)]
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        sock.set_inheritable(True)
    return [sock]


def run_server(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve until SIGINT/SIGTERM, then stop gracefully: no new connections, requests in
    flight finish (up to ``serving.shutdown_grace_seconds``), buffered writes are written."""
    serving = settings.serving
    logs.configure(serving.log_format, serving.log_level)
    limit_blas(settings)
    made_dir: Path | None = None  # a folder of our own is removed at the end; a given one is not
    if workers > 1:  # every worker (and this supervisor, which retrains) writes its metrics here
        given = os.environ.get(MULTIPROC_ENV)
        directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="tactful-metrics-"))
        made_dir = None if given else directory
        use_multiprocess(directory)
    try:
        engine = Engine(settings)
    except TactfulError as exc:  # e.g. an outdated schema: say what to do, do not migrate
        console.print(f"[red]not starting[/red]: {exc.message}", highlight=False)
        if made_dir is not None:
            shutil.rmtree(made_dir, ignore_errors=True)
        raise typer.Exit(2) from exc
    for line in startup_summary(engine, host, port, workers):
        console.print(line, highlight=False, markup=False)
    retrainer = start_retrainer(engine)
    ticker = ExperimentTicker(engine.experiments, settings.experiments.tick_minutes * 60)
    ticker.start()
    grace = int(serving.shutdown_grace_seconds) if serving.shutdown_grace_seconds else None
    common: dict[str, Any] = {
        "access_log": False,  # tactful's own access line carries the request id
        "log_config": logs.uvicorn_log_config(),
        "timeout_graceful_shutdown": grace,
        "http": JsonErrorH11Protocol,
    }
    try:
        if workers > 1:
            os.environ["TACTFUL_DATA_DIR"] = str(settings.data_dir)
            if settings.database_url:
                os.environ["TACTFUL_DATABASE_URL"] = settings.database_url
            if settings.redis_url:
                os.environ["TACTFUL_REDIS_URL"] = settings.redis_url
            if not settings.auth.enabled:
                os.environ["TACTFUL_AUTH__ENABLED"] = "false"
            config = uvicorn.Config(
                "tactful.cli.server:app_factory",
                timeout_worker_healthcheck=int(serving.worker_healthcheck_seconds),
                factory=True,
                host=host,
                port=port,
                workers=workers,
                **common,
            )
            Multiprocess(config, sockets=listeners(config)).run()
        else:
            app = create_site(engine, on_shutdown=[retrainer.stop, ticker.stop])
            uvicorn.run(app, host=host, port=port, **common)
    finally:  # the app's lifespan already did this unless uvicorn never started it
        retrainer.stop()
        ticker.stop()
        engine.close()
        if made_dir is not None:
            shutil.rmtree(made_dir, ignore_errors=True)
