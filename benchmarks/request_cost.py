"""What one recommendation request costs in process: SQL statements, Redis round trips, CPU ms.

Run: python benchmarks/request_cost.py [--sqlite DIR] [--pg URL --redis URL --data DIR] [--passes 3]

For each backend given, one :class:`tactful.Engine` (no HTTP) serves every person of the
prepared data ``--passes`` times after one warm-up pass (so caches hold what a worker under
load holds), then reports per request:

- ``sql``: statements sent to the database, counted at the DBAPI (psycopg cursors and
  connection commits and rollbacks; the SQLite connection's trace callback), so
  raw-connection queries and the pool's pings and resets count too — split into
  those run on the request's own thread and those run by background threads (the served-list
  writer, the pub/sub listener);
- ``redis``: Redis round trips (one command, or one pipeline), request thread and background;
- ``cpu_ms``: process CPU time (every thread, so background writes count) per request, and
  ``wall_ms`` per request on one thread.

The background writer is flushed at the end of each pass so its work is inside the figure.
``--sqlite`` is a data dir prepared by ``benchmarks/http_load.py`` (``tactful.sqlite3`` and
models); ``--pg``/``--redis``/``--data`` a database and model folder such as
``benchmarks/production_load.py`` prepares (the database is written to: served lists).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tactful import Engine, Settings
from tactful.config.security import AuthSettings

COUNTS: Counter[str] = Counter()
STATEMENTS: Counter[str] = Counter()


SHOW = False


def _where() -> str:
    return "req" if threading.current_thread().name == "MainThread" else "bg"


@contextmanager
def counting() -> Iterator[None]:
    """Count DBAPI statements and Redis round trips while inside."""
    undo: list[Callable[[], None]] = []
    try:
        import psycopg

        for cls in (psycopg.Cursor, psycopg.ServerCursor):
            for name in ("execute", "executemany"):
                original = getattr(cls, name)

                def wrapped(self: Any, *a: Any, _o: Any = original, **k: Any) -> Any:
                    COUNTS["sql_" + _where()] += 1
                    STATEMENTS[_where() + ": " + " ".join(str(a[0])[:90].split())] += 1
                    return _o(self, *a, **k)

                setattr(cls, name, wrapped)
                undo.append(lambda c=cls, n=name, o=original: setattr(c, n, o))
        for name in ("commit", "rollback"):  # a round trip each, though no cursor runs them
            original = getattr(psycopg.Connection, name)

            def ended(self: Any, *a: Any, _o: Any = original, _n: str = name, **k: Any) -> Any:
                COUNTS["sql_" + _where()] += 1
                STATEMENTS[_where() + ": " + _n.upper()] += 1
                return _o(self, *a, **k)

            setattr(psycopg.Connection, name, ended)
            undo.append(lambda n=name, o=original: setattr(psycopg.Connection, n, o))
    except ImportError:
        pass
    try:
        import redis
        import redis.client

        original_cmd = redis.Redis.execute_command

        def command(self: Any, *a: Any, **k: Any) -> Any:
            COUNTS["redis_" + _where()] += 1
            return original_cmd(self, *a, **k)

        redis.Redis.execute_command = command  # type: ignore[method-assign]
        undo.append(lambda: setattr(redis.Redis, "execute_command", original_cmd))
        original_exec = redis.client.Pipeline.execute

        def execute(self: Any, *a: Any, **k: Any) -> Any:
            COUNTS["redis_" + _where()] += 1
            return original_exec(self, *a, **k)

        redis.client.Pipeline.execute = execute  # type: ignore[method-assign]
        undo.append(lambda: setattr(redis.client.Pipeline, "execute", original_exec))
    except ImportError:
        pass
    try:
        yield
    finally:
        for u in reversed(undo):
            u()


def trace_sqlite(engine: Engine) -> None:
    """SQLite statements: a trace callback on every pooled connection (and new ones)."""
    import sqlalchemy as sa

    sql_engine = getattr(engine.store, "engine", None)
    if sql_engine is None or sql_engine.dialect.name != "sqlite":
        return

    def on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        def trace(text: str) -> None:
            COUNTS["sql_" + _where()] += 1
            STATEMENTS[_where() + ": " + " ".join(text[:90].split())] += 1

        dbapi_conn.set_trace_callback(trace)

    sa.event.listen(sql_engine, "connect", on_connect)
    sql_engine.dispose()  # reconnect so every connection is traced


def measure(engine: Engine, users: list[str], passes: int) -> dict[str, float]:
    for u in users:  # warm-up: every person cached, every answer kept once
        engine.recommend(u, n=10)
    engine.served.flush()
    COUNTS.clear()
    STATEMENTS.clear()
    requests = 0
    cpu0, wall = time.process_time(), 0.0
    for _ in range(passes):
        for u in users:
            started = time.perf_counter()
            engine.recommend(u, n=10)
            wall += time.perf_counter() - started
            requests += 1
        engine.served.flush()
    cpu = time.process_time() - cpu0
    out = {k: v / requests for k, v in sorted(COUNTS.items())}
    out |= {"requests": requests, "cpu_ms": 1000 * cpu / requests, "wall_ms": 1000 * wall / requests}
    if SHOW:
        for text, count in STATEMENTS.most_common(12):
            print(f"{count / requests:7.3f}  {text}")
    return out


def users_of(engine: Engine) -> list[str]:
    import sqlalchemy as sa

    sql_engine = engine.store.engine  # type: ignore[attr-defined]
    with sql_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id FROM persons ORDER BY id")).all()
    return [str(r[0]) for r in rows]


def run(settings: Settings, passes: int) -> dict[str, float]:
    with counting(), Engine(settings) as engine:
        trace_sqlite(engine)
        users = users_of(engine)
        return measure(engine, users, passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", type=Path, help="a data dir with tactful.sqlite3 and models")
    parser.add_argument("--pg", help="a PostgreSQL URL with prepared data")
    parser.add_argument("--redis", help="a Redis URL (with --pg)")
    parser.add_argument("--data", type=Path, help="the model folder for --pg")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--show", action="store_true", help="print the commonest statements")
    args = parser.parse_args()
    global SHOW
    SHOW = args.show
    results: dict[str, Any] = {}
    off = AuthSettings(enabled=False)
    if args.sqlite:
        results["sqlite"] = run(Settings(data_dir=args.sqlite, auth=off), args.passes)
    if args.pg:
        settings = Settings(data_dir=args.data, database_url=args.pg, redis_url=args.redis, auth=off)
        results["pg+redis" if args.redis else "pg"] = run(settings, args.passes)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
