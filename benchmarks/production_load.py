"""Production-mode HTTP load: SQLite, and PostgreSQL + Redis with 1, 2 and 4 workers, beside the
bare-FastAPI floor, on the ml-latest-small import. Loopback only, every loop bounded.

Run: python benchmarks/production_load.py [--ml DIR] [--seconds 10] [--runs 3] [--workers 1,2,4]
                                          [--batches 10 (0: no ingest)] [--markdown OUT] [--json OUT]

In one run (servers are real ``tactful serve`` processes; wrk drives the load):

- the data is prepared once into a PostgreSQL *template* database (items, every rating as
  an event, a trained model), untimed; each measurement gets a fresh copy of it
  (``CREATE DATABASE … TEMPLATE``) and of the model folder, and its own private
  ``redis-server`` on a free port (nothing kept on disk);
- ``GET /v1/users/{id}/recommendations?n=10`` cycling over every person at 8 connections,
  after a warm-up in which every worker very likely served every person: req/s, p50, p99,
  for SQLite (1 worker, the embedded default), PostgreSQL + Redis with each worker count,
  and the floor (a bare FastAPI app returning a real tactful body, same worker counts);
  with each, the CPU ms per request of the server's processes, of the PostgreSQL backends
  connected to the measurement's database, of its Redis and of wrk (process CPU time over
  the wrk run / requests: steadier than req/s on a shared machine);
- unless ``--batches 0``, batch ingest over HTTP into PostgreSQL: 10k-event batches of
  every rating re-sent under fresh person ids, from 2 concurrent clients against 2 workers,
  events/s; and through the Python API (``Engine.ingest`` on PostgreSQL, one thread) for
  the storage path alone.

Medians over ``--runs`` are reported. The machine this was written on has 2 cores shared
with other work: figures from it are preliminary and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_load as base  # noqa: E402  (the floor, wrk, warm-up and server helpers)

from tactful import Engine, Event, Settings  # noqa: E402
from tactful.config.security import AuthSettings  # noqa: E402
from tactful.importers.movielens import movielens_events, movielens_items  # noqa: E402
from tactful.storage import SqlStore, open_store  # noqa: E402

PG_ADMIN = os.environ.get("TACTFUL_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEMPLATE = "tactful_bench_template"
REDIS = shutil.which("redis-server")
CONNS = 8
TARGETS = {"pg_2w_req_per_s": 1000.0, "pg_2w_p99_ms": 30.0, "pg_batch_events_per_s": 20_000.0}


def pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def admin() -> sa.Engine:
    return sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")


def prepare(ml: Path, root: Path) -> dict[str, Any]:
    """The template database and its model folder, built once (kept between runs)."""
    models = root / "template-data"
    marker = models / "prepared.json"
    eng = admin()
    with eng.connect() as conn:
        exists = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (TEMPLATE,)).first()
    head = SqlStore.head_revision()
    if exists and marker.is_file():
        kept = dict(json.loads(marker.read_text()))
        if kept.get("schema") == head:  # a template from an older schema is built again
            return kept
    with eng.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{TEMPLATE}"')
    eng.dispose()
    shutil.rmtree(models, ignore_errors=True)
    started = time.perf_counter()
    store = open_store(pg_url(TEMPLATE), migrate=True)
    settings = Settings(data_dir=models, auth=AuthSettings(enabled=False))
    with Engine(settings, store=store) as engine:
        engine.upsert_items(movielens_items(ml))
        accepted = sum(engine.ingest(batch).accepted for batch in movielens_events(ml))
        report = engine.train()
    info = {
        "schema": head,
        "events": accepted,
        "prepared_in_s": round(time.perf_counter() - started, 1),
        "train": str(report),
    }
    marker.write_text(json.dumps(info))
    return info


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"tactful_bench_{uuid.uuid4().hex[:8]}"
    eng = admin()
    with eng.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    try:
        yield pg_url(name)
    finally:
        with eng.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        eng.dispose()


@contextmanager
def private_redis(directory: Path) -> Iterator[tuple[str, int]]:
    assert REDIS is not None, "redis-server is needed"
    port = base.free_port()
    cmd = [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(
        [*cmd, "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        proc.kill()
        proc.wait(timeout=10)


def server(data: Path, workers: int, port: int, log: Path, env: dict[str, str], name: str) -> base.Server:
    cmd = [sys.executable, "-m", "tactful.cli.main", "serve", "--no-auth", "--host", base.HOST]
    cmd += ["--port", str(port), "--workers", str(workers), "--data-dir", str(data)]
    full = {**base.SERVER_ENV, "TACTFUL_SERVING__ACCESS_LOG": "false", **env}
    return base.Server(name, cmd, full, log)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of these processes so far (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def session_pids(leader: int) -> list[int]:
    """The server process and its workers (it runs in a session of its own)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == leader:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def backend_pids(database_url: str) -> list[int]:
    """PostgreSQL backends connected to this measurement's database now."""
    name = database_url.rsplit("/", 1)[1]
    eng = admin()
    with eng.connect() as conn:
        rows = conn.exec_driver_sql("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)).all()
    eng.dispose()
    return [int(r[0]) for r in rows]


def measured_wrk(
    url: str, script: Path, seconds: float, srv: base.Server | None, groups: dict[str, list[int]]
) -> dict[str, Any]:
    """wrk, with the CPU ms per request of the server's processes, of ``groups`` and of wrk."""
    groups = dict(groups)
    if srv is not None and srv.proc is not None:
        groups["server"] = session_pids(srv.proc.pid)
    before = {k: cpu_seconds(v) for k, v in groups.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = base.wrk(url, script, CONNS, seconds)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests = max(result["requests"], 1)
    for k, pids in groups.items():
        result[f"cpu_ms_{k}"] = 1000 * (cpu_seconds(pids) - before[k]) / requests
    wrk_s = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    result["cpu_ms_wrk"] = 1000 * wrk_s / requests
    result["cpu_ms_total"] = sum(result[f"cpu_ms_{k}"] for k in groups)
    return result


def load(
    url: str,
    users: Sequence[str],
    workers: int,
    script: Path,
    seconds: float,
    srv: base.Server | None = None,
    database_url: str | None = None,
    redis_pid: int | None = None,
) -> dict[str, Any]:
    """wrk after a warm-up; with ``srv``, the CPU ms per request of the server's processes and
    (given) of the database backends serving it and of Redis: the figure steadier than req/s."""
    warm = base.warm_up(url, users, workers, passes=2)
    groups: dict[str, list[int]] = {}
    if database_url is not None:
        groups["postgres"] = backend_pids(database_url)
    if redis_pid is not None:
        groups["redis"] = [redis_pid]
    result = measured_wrk(url, script, seconds, srv, groups)
    result["median_body"] = warm["median_body"]
    return result


def batch_concurrent(
    url: str, batches: Sequence[Sequence[dict[str, Any]]], clients: int = 2
) -> dict[str, float]:
    """``clients`` keep-alive clients posting 10k-event batches at once (bounded: each batch once)."""
    bodies = [json.dumps({"events": list(b)}).encode() for b in batches]
    headers = {"content-type": "application/json"}

    def post(part: Sequence[bytes]) -> tuple[int, int]:
        accepted = bad = 0
        with httpx.Client(base_url=url, timeout=300) as client:
            for body in part:
                resp = client.post("/v1/events/batch", content=body, headers=headers)
                if resp.status_code == 200:
                    accepted += int(resp.json()["accepted"])
                else:
                    bad += 1
        return accepted, bad

    parts = [bodies[k::clients] for k in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(post, parts))
    elapsed = time.perf_counter() - started
    total = sum(len(b) for b in batches)
    return {
        "events_per_s": total / elapsed,
        "accepted": sum(a for a, _ in done),
        "non2xx": sum(b for _, b in done),
    }


def batch_python(
    database_url: str, data: Path, batches: Sequence[Sequence[dict[str, Any]]]
) -> dict[str, float]:
    events = [[Event.model_validate(e) for e in b] for b in batches]
    settings = Settings(data_dir=data, database_url=database_url, auth=AuthSettings(enabled=False))
    with Engine(settings) as engine:
        started = time.perf_counter()
        accepted = sum(engine.ingest(b).accepted for b in events)
        elapsed = time.perf_counter() - started
    return {"events_per_s": sum(len(b) for b in events) / elapsed, "accepted": accepted}


def one_run(ml: Path, root: Path, args: argparse.Namespace, ratings: base.Ratings) -> dict[str, Any]:
    out: dict[str, Any] = {"pg": {}, "floor": {}, "load_1min": os.getloadavg()[0]}
    problems: list[dict[str, Any]] = []
    script = base.wrk_script(ratings.users, root / "users.lua")
    body_file = root / "body.json"
    # SQLite, the embedded default (one worker): a copy of the template's data in a SQLite file
    sqlite_data = root / "sqlite-data"
    base.prepare(ml, sqlite_data)  # kept while the dataset and schema are the same
    work = base.restore(sqlite_data, root / "sqlite-work")
    port = base.free_port()
    srv = base.tactful_server(work, 1, port, root / "sqlite.log")
    with base.serving(srv, port, "/v1/health", problems) as url:
        out["sqlite_1w"] = load(url, ratings.users, 1, script, args.seconds, srv)
    body_file.write_bytes(out["sqlite_1w"].pop("median_body"))
    for workers in args.workers:
        with fresh_database() as db, private_redis(root) as (redis_url, redis_pid):
            data = root / f"pg-{workers}w"
            shutil.rmtree(data, ignore_errors=True)
            shutil.copytree(root / "template-data", data)
            env = {"TACTFUL_DATABASE_URL": db, "TACTFUL_REDIS_URL": redis_url}
            port = base.free_port()
            srv = server(
                data, workers, port, root / f"pg-{workers}w.log", env, f"tactful pg+redis {workers}w"
            )
            with base.serving(srv, port, "/v1/health/ready", problems) as url:
                result = load(url, ratings.users, workers, script, args.seconds, srv, db, redis_pid)
                result.pop("median_body")
                out["pg"][str(workers)] = result
                if workers == 2 and args.batches > 0:
                    out["pg_batch_http_2w"] = batch_concurrent(url, ratings.fresh_batches(args.batches))
        port = base.free_port()
        floor = base.floor_server(body_file, workers, port, root / f"floor-{workers}w.log", nodelay=True)
        with base.serving(floor, port, "/v1/users/1/recommendations", problems) as url:
            out["floor"][str(workers)] = measured_wrk(url, script, args.seconds, floor, {})
    if args.batches > 0:
        with fresh_database() as db:
            batches = ratings.fresh_batches(args.batches)
            out["pg_batch_python"] = batch_python(db, root / "python-ingest", batches)
    out["problems"] = problems
    return out


median = base.median_of


def markdown(runs: Sequence[dict[str, Any]], workers: Sequence[int], meta: dict[str, Any]) -> str:
    lines = [
        "# Production-mode load (PostgreSQL + Redis) — preliminary",
        "",
        f"{meta['when']}, commit {meta['commit']}, {len(runs)} run(s) of {meta['seconds']} s per point, "
        f"wrk {CONNS} connections, ml-latest-small ({meta['prepared'].get('events', '?')} events). "
        "The machine has 2 cores shared with other engineers' work: treat every figure as preliminary.",
        "",
        "## Recommendations by workers (medians)",
        "",
        "| setup | workers | req/s | p50 ms | p99 ms | floor req/s | floor p99 ms | share of floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    floor1 = median(runs, "floor", str(workers[0]), "req_per_s") if workers else 0.0
    lines.append(
        f"| SQLite (embedded) | 1 | {median(runs, 'sqlite_1w', 'req_per_s'):.0f} | "
        f"{median(runs, 'sqlite_1w', 'p50_ms'):.1f} | {median(runs, 'sqlite_1w', 'p99_ms'):.1f} | "
        f"{floor1:.0f} (1w) | | {median(runs, 'sqlite_1w', 'req_per_s') / max(floor1, 1):.0%} |"
        if 1 in workers
        else f"| SQLite (embedded) | 1 | {median(runs, 'sqlite_1w', 'req_per_s'):.0f} | "
        f"{median(runs, 'sqlite_1w', 'p50_ms'):.1f} | {median(runs, 'sqlite_1w', 'p99_ms'):.1f} | | | |"
    )
    for w in workers:
        rps = median(runs, "pg", str(w), "req_per_s")
        frps = median(runs, "floor", str(w), "req_per_s")
        lines.append(
            f"| PostgreSQL + Redis | {w} | {rps:.0f} | {median(runs, 'pg', str(w), 'p50_ms'):.1f} | "
            f"{median(runs, 'pg', str(w), 'p99_ms'):.1f} | {frps:.0f} | "
            f"{median(runs, 'floor', str(w), 'p99_ms'):.1f} | {rps / max(frps, 1):.0%} |"
        )
    lines += [
        "",
        "## CPU per request (ms, medians)",
        "",
        "Process CPU time over the wrk run divided by the requests served: the server's own",
        "processes, the PostgreSQL backends connected to the measurement's database, its Redis,",
        "and wrk itself. Steadier than req/s on a shared machine (other work slows a request down",
        "but does not make it cost more CPU).",
        "",
        "| setup | workers | server | postgres | redis | sum | wrk |",
        "|---|---|---|---|---|---|---|",
    ]

    def cpu(*path: str) -> str:
        try:
            return f"{median(runs, *path):.2f}"
        except KeyError:
            return ""

    lines.append(
        f"| SQLite (embedded) | 1 | {cpu('sqlite_1w', 'cpu_ms_server')} | | | "
        f"{cpu('sqlite_1w', 'cpu_ms_total')} | {cpu('sqlite_1w', 'cpu_ms_wrk')} |"
    )
    for w in workers:
        k = ("pg", str(w))
        lines.append(
            f"| PostgreSQL + Redis | {w} | {cpu(*k, 'cpu_ms_server')} | {cpu(*k, 'cpu_ms_postgres')} | "
            f"{cpu(*k, 'cpu_ms_redis')} | {cpu(*k, 'cpu_ms_total')} | {cpu(*k, 'cpu_ms_wrk')} |"
        )
    for w in workers:
        k = ("floor", str(w))
        lines.append(
            f"| floor (bare FastAPI) | {w} | {cpu(*k, 'cpu_ms_server')} | | | "
            f"{cpu(*k, 'cpu_ms_total')} | {cpu(*k, 'cpu_ms_wrk')} |"
        )
    if any("pg_batch_python" in r for r in runs):
        lines += ["", "## Batch ingest into PostgreSQL (medians)", ""]
    if any("pg_batch_http_2w" in r for r in runs):
        lines.append(
            f"- HTTP, 2 workers, 2 clients, 10k-event batches: "
            f"{median(runs, 'pg_batch_http_2w', 'events_per_s'):,.0f} events/s"
        )
    if any("pg_batch_python" in r for r in runs):
        lines.append(
            f"- Python API, one thread: {median(runs, 'pg_batch_python', 'events_per_s'):,.0f} events/s"
        )
    lines += ["", "## Targets", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    if 2 in workers:
        got = median(runs, "pg", "2", "req_per_s")
        lines.append(f"| PG+Redis 2 workers req/s | ≥ 1,000 | {got:.0f} | {'yes' if got >= 1000 else 'no'} |")
        p99 = median(runs, "pg", "2", "p99_ms")
        lines.append(f"| PG+Redis 2 workers p99 | ≤ 30 ms | {p99:.1f} ms | {'yes' if p99 <= 30 else 'no'} |")
        if any("pg_batch_http_2w" in r for r in runs):
            ing = median(runs, "pg_batch_http_2w", "events_per_s")
            met = "yes" if ing >= 20000 else "no"
            lines.append(f"| batch ingest into PG (HTTP) | ≥ 20k/s | {ing:,.0f}/s | {met} |")
    loads = sorted(float(r.get("load_1min", 0.0)) for r in runs)
    lines += ["", f"1-minute load average when each run started: {', '.join(f'{x:.1f}' for x in loads)}."]
    errors = sum(r["pg"][str(w)]["non2xx"] + r["pg"][str(w)]["socket_errors"] for r in runs for w in workers)
    lines.append(f"Non-2xx or socket errors under load: {errors}.")
    problems = [p for r in runs for p in r["problems"]]
    if problems:
        lines.append(f"Server logs reported problems: {json.dumps(problems)[:600]}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ml", type=Path, default=base.ML)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "tactful-production-load")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument(
        "--batches", type=int, default=10, help="10k-event batches per ingest measurement (0: skip ingest)"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    if not Path(base.WRK).exists():
        raise SystemExit("wrk is needed: apt-get install wrk")
    signal.signal(signal.SIGTERM, lambda *_: (base.Server.stop_all(), sys.exit(1)))
    args.root.mkdir(parents=True, exist_ok=True)
    prepared = prepare(args.ml, args.root)
    ratings = base.Ratings(args.ml)
    runs = []
    try:
        for n in range(args.runs):
            print(f"run {n + 1}/{args.runs}", file=sys.stderr)
            runs.append(one_run(args.ml, args.root, args, ratings))
    finally:
        base.Server.stop_all()
    meta = {
        "load": os.getloadavg(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": base.git_commit("src", "benchmarks"),
        "seconds": args.seconds,
        "prepared": prepared,
    }
    text = markdown(runs, args.workers, meta)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "runs": runs}, indent=2, default=str))


if __name__ == "__main__":
    main()
