"""Batch ingest through the Python API only (``Engine.ingest``): quick, in-process, no servers.

Run: python benchmarks/ingest_batch.py [--backend sqlite|postgres] [--runs 3] [--batches 5]
                                       [--writers 1] [--history] [--profile OUT.prof] [--json OUT]

Each run starts from a fresh store holding the ml-latest-small catalog (with ``--history``,
also every rating as an event, untimed, so the tables and indexes have their real size),
then ingests ``--batches`` 10k-event batches of those ratings re-sent under fresh person ids
(with ``--writers N``, from N threads at once, as a server's write lane would).
It reports events/s (wall clock) and CPU seconds per 10k events (``time.process_time`` of
this process: steadier than wall time on a shared machine; on PostgreSQL the server's own
CPU is reported apart, from /proc). Medians over ``--runs`` are printed with the load average.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_load import ML, Ratings  # noqa: E402

from tactful import Engine, Event, Settings  # noqa: E402
from tactful.config.security import AuthSettings  # noqa: E402
from tactful.importers.movielens import movielens_events, movielens_items  # noqa: E402
from tactful.storage import open_store  # noqa: E402

PG_ADMIN = os.environ.get("TACTFUL_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_pg(name: str) -> Iterator[str]:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def one_run(
    backend: str,
    batches: Sequence[Sequence[dict[str, Any]]],
    history: bool,
    profile: str | None,
    writers: int = 1,
) -> dict[str, float]:
    events = [[Event.model_validate(e) for e in b] for b in batches]  # validated before the clock
    with tempfile.TemporaryDirectory(prefix="tactful-ingest-") as tmp, _database(backend, tmp) as url:
        store = open_store(url, migrate=True)
        settings = Settings(data_dir=Path(tmp), database_url=url, auth=AuthSettings(enabled=False))
        with Engine(settings, store=store) as engine:
            engine.upsert_items(movielens_items(ML))
            if history:
                for batch in movielens_events(ML):
                    engine.ingest(batch)
            engine.ingest([Event(user_id="x-warm", item_id="1", type="view")])
            prof = cProfile.Profile() if profile else None
            server0 = _server_cpu(url)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if prof:
                prof.enable()
            if writers == 1:
                accepted = sum(engine.ingest(b).accepted for b in events)
            else:  # several threads, each its share of the batches (as a server's write lane)
                with ThreadPoolExecutor(max_workers=writers) as pool:
                    accepted = sum(r.accepted for r in pool.map(engine.ingest, events))
            if prof:
                prof.disable()
                prof.dump_stats(profile)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            server = _server_cpu(url) - server0
    total = sum(len(b) for b in events)
    return {
        "server_cpu_s_per_10k": server / total * 10_000,
        "events": total,
        "accepted": accepted,
        "events_per_s": total / wall,
        "cpu_s_per_10k": cpu / total * 10_000,
        "wall_s_per_10k": wall / total * 10_000,
    }


def _server_cpu(url: str) -> float:
    """CPU seconds of the PostgreSQL backends serving this database (0 on SQLite: in-process)."""
    if url.startswith("sqlite"):
        return 0.0
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        pids = [
            r[0] for r in conn.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        ]
    admin.dispose()
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


@contextmanager
def _database(backend: str, tmp: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp}/tactful.db"
        return
    with fresh_pg(f"tactful_ingest_{os.getpid()}") as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=5, help="10k-event batches per run")
    parser.add_argument("--history", action="store_true", help="ingest every rating first (untimed)")
    parser.add_argument("--writers", type=int, default=1, help="threads ingesting batches at once")
    parser.add_argument("--profile", help="write a cProfile of the timed part of the last run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    batches = Ratings(ML).fresh_batches(args.batches)
    runs = []
    for n in range(args.runs):
        load = os.getloadavg()[0]
        profile = args.profile if n == args.runs - 1 else None
        run = one_run(args.backend, batches, args.history, profile, args.writers)
        run["load_1m"] = load
        runs.append(run)
        print(
            f"run {n + 1}: {run['events_per_s']:,.0f} events/s, "
            f"{run['cpu_s_per_10k']:.3f} CPU s per 10k events"
            + (f" + {run['server_cpu_s_per_10k']:.3f} in PostgreSQL" if args.backend == "postgres" else "")
            + f" (load {load:.2f})",
            flush=True,
        )
    summary = {
        "backend": args.backend,
        "history": args.history,
        "events_per_s": statistics.median(r["events_per_s"] for r in runs),
        "cpu_s_per_10k": statistics.median(r["cpu_s_per_10k"] for r in runs),
        "server_cpu_s_per_10k": statistics.median(r["server_cpu_s_per_10k"] for r in runs),
        "runs": runs,
    }
    print(
        f"median over {len(runs)} runs ({args.backend}): {summary['events_per_s']:,.0f} events/s, "
        f"{summary['cpu_s_per_10k']:.3f} CPU s per 10k events"
        + (f" + {summary['server_cpu_s_per_10k']:.3f} in PostgreSQL" if args.backend == "postgres" else "")
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
