"""Batch ingest over HTTP into PostgreSQL (+ Redis) only: the ingest part of ``production_load.py``.

Run: python benchmarks/ingest_http_pg.py [--workers 2] [--clients 2] [--batches 10] [--runs 3]
                                         [--template NAME] [--root DIR]

Per run: a fresh copy of the prepared template database (items, every rating, a trained
model; built once, as ``production_load.py`` builds it), a private ``redis-server``, a
``tactful serve --workers N`` on 127.0.0.1, then ``--clients`` keep-alive clients posting
``--batches`` 10k-event batches (every rating re-sent under fresh person ids) at once.
Reported: events/s, and the CPU seconds per 10k events of the server's processes and of
the PostgreSQL backends serving the database (from /proc: steadier than the wall clock on
a shared machine). Medians over ``--runs``, with the load average.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_load as base  # noqa: E402
import production_load as prod  # noqa: E402


def one_run(root: Path, args: argparse.Namespace, ratings: base.Ratings) -> dict[str, Any]:
    problems: list[dict[str, Any]] = []
    with prod.fresh_database() as db, prod.private_redis(root) as (redis_url, _):
        data = root / "pg-ingest"
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(root / "template-data", data)
        env = {"TACTFUL_DATABASE_URL": db, "TACTFUL_REDIS_URL": redis_url}
        port = base.free_port()
        name = f"tactful pg+redis {args.workers}w"
        srv = prod.server(data, args.workers, port, root / "pg-ingest.log", env, name)
        with base.serving(srv, port, "/v1/health/ready", problems) as url:
            assert srv.proc is not None
            server_pids = prod.session_pids(srv.proc.pid)
            backends = prod.backend_pids(db)
            cpu0, pg0 = prod.cpu_seconds(server_pids), prod.cpu_seconds(backends)
            batches = ratings.fresh_batches(args.batches)
            result: dict[str, Any] = prod.batch_concurrent(url, batches, args.clients)
            # backends opened meanwhile did all their work in the run: counted from 0
            backends = sorted(set(backends) | set(prod.backend_pids(db)))
            server_s, pg_s = prod.cpu_seconds(server_pids) - cpu0, prod.cpu_seconds(backends) - pg0
    per = 10_000 / (args.batches * base.BATCH)
    result.update(server_cpu_s_per_10k=server_s * per, pg_cpu_s_per_10k=pg_s * per, problems=len(problems))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--template", default=prod.TEMPLATE, help="name of the prepared template database")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "tactful-production-load")
    args = parser.parse_args()
    prod.TEMPLATE = args.template
    signal.signal(signal.SIGTERM, lambda *_: (base.Server.stop_all(), sys.exit(1)))
    args.root.mkdir(parents=True, exist_ok=True)
    prod.prepare(base.ML, args.root)
    ratings = base.Ratings(base.ML)
    runs = []
    try:
        for n in range(args.runs):
            load = os.getloadavg()[0]
            run = one_run(args.root, args, ratings)
            runs.append(run)
            print(
                f"run {n + 1}: {run['events_per_s']:,.0f} events/s, server "
                f"{run['server_cpu_s_per_10k']:.3f} + PostgreSQL "
                f"{run['pg_cpu_s_per_10k']:.3f} CPU s per 10k, "
                f"non-2xx {run['non2xx']} (load {load:.2f})"
            )
    finally:
        base.Server.stop_all()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(
        f"median over {len(runs)} runs ({args.workers} workers, {args.clients} clients): "
        f"{med('events_per_s'):,.0f} events/s, server {med('server_cpu_s_per_10k'):.3f} + "
        f"PostgreSQL {med('pg_cpu_s_per_10k'):.3f} CPU s per 10k"
    )


if __name__ == "__main__":
    main()
