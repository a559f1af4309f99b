"""Synthetic data size on PostgreSQL + Redis: up to 1M people x 100k items x 20M events.

Run: python benchmarks/synthetic_scale.py [--people 1000000] [--items 100000] [--events 20000000]
                                          [--max-ingest-seconds 1800] [--seconds 10] [--workers 2]
                                          [--train] [--markdown OUT]

Everything goes through the product's own paths, against real processes on 127.0.0.1 only:

1. a fresh PostgreSQL database (``tactful db upgrade``) and a private ``redis-server``;
2. ``tactful serve --workers N`` on them; the catalog (``--items``, tags drawn from 40 genres,
   300 creators and 12 moods) is posted in 5k-item batches;
3. events (like, view, play, rate, dislike) for people drawn with a heavy-tailed activity and
   items with Zipf popularity, generated batch by batch from a fixed seed (never all in
   memory), posted in 10k-event batches by 2 concurrent clients, until ``--events`` or
   ``--max-ingest-seconds``, whichever comes first (the bound); events/s is reported per
   million events stored, so a slowdown as tables grow shows;
4. optionally ``tactful train`` on what was stored;
5. wrk at 8 connections on ``GET /v1/users/{id}/recommendations`` over 2,000 people drawn
   from those with events: req/s, p50, p99.

The database is dropped at the end. The figures are for the size actually reached, which
the report states next to the size asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_load as base  # noqa: E402
import production_load as prod  # noqa: E402

BATCH = 10_000
ITEM_BATCH = 5_000
TYPES = np.array(["view", "play", "like", "rate", "dislike"])
TYPE_P = np.array([0.45, 0.25, 0.15, 0.12, 0.03])
START = datetime(2026, 1, 1, tzinfo=UTC)


def items(count: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    for start in range(0, count, ITEM_BATCH):
        out = []
        for k in range(start, min(count, start + ITEM_BATCH)):
            genres = rng.choice(40, size=2, replace=False)
            out.append(
                {
                    "id": f"i{k}",
                    "title": f"Item {k}",
                    "tags": [
                        f"genre:g{genres[0]}",
                        f"genre:g{genres[1]}",
                        f"creator:c{k % 300}",
                        f"mood:m{k % 12}",
                    ],
                }
            )
        yield out


def event_batches(people: int, item_count: int, total: int, seed: int) -> Iterator[bytes]:
    """``total`` events in JSON batches, made one batch at a time from ``seed``."""
    ranks = np.arange(1, item_count + 1, dtype=np.float64)
    item_p = 1.0 / ranks**0.9
    item_p /= item_p.sum()
    item_cdf = np.cumsum(item_p)
    for n, start in enumerate(range(0, total, BATCH)):
        rng = np.random.default_rng([seed, n])
        size = min(BATCH, total - start)
        # heavy-tailed activity: a few people produce many events, most a few
        who = np.minimum((rng.pareto(1.2, size) * people / 50).astype(np.int64), people - 1)
        what = np.searchsorted(item_cdf, rng.random(size))
        kinds = rng.choice(TYPES, size=size, p=TYPE_P)
        offsets = rng.integers(0, 300 * 86_400, size=size)
        events = []
        for k in range(size):
            kind = str(kinds[k])
            event: dict[str, Any] = {
                "id": f"s{start + k}",
                "user_id": f"p{who[k]}",
                "item_id": f"i{what[k]}",
                "type": kind,
                "timestamp": (START + timedelta(seconds=int(offsets[k]))).isoformat(),
            }
            if kind == "rate":
                event["value"] = float(rng.integers(1, 11)) / 2
            elif kind == "play":
                event["value"] = float(rng.integers(5, 600))
            events.append(event)
        yield json.dumps({"events": events}).encode()


def ingest(url: str, batches: Iterator[bytes], total: int, max_seconds: float) -> dict[str, Any]:
    """Two clients post batches until ``total`` events or ``max_seconds``; rate per million."""
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    marks: list[tuple[int, float]] = []
    stored = bad = 0
    clients = [httpx.Client(base_url=url, timeout=600) for _ in range(2)]

    def post(job: tuple[int, bytes]) -> tuple[int, int]:
        k, body = job
        resp = clients[k % 2].post("/v1/events/batch", content=body, headers=headers)
        return (int(resp.json()["accepted"]), 0) if resp.status_code == 200 else (0, 1)

    next_mark = 1_000_000
    try:
        with ThreadPoolExecutor(2) as pool:
            while time.perf_counter() - started < max_seconds:
                pair = [b for _, b in zip(range(2), batches, strict=False)]
                if not pair:
                    break
                for accepted, failed in pool.map(post, enumerate(pair)):
                    stored += accepted
                    bad += failed
                if stored >= next_mark or stored >= total:
                    marks.append((stored, time.perf_counter() - started))
                    print(f"  {stored:,} events in {marks[-1][1]:.0f} s", file=sys.stderr)
                    next_mark += 1_000_000
    finally:
        for client in clients:
            client.close()
    elapsed = time.perf_counter() - started
    per_million = []
    previous = (0, 0.0)
    for count, at in marks:
        per_million.append(round((count - previous[0]) / max(at - previous[1], 1e-9)))
        previous = (count, at)
    return {
        "events": stored,
        "seconds": round(elapsed, 1),
        "events_per_s": round(stored / elapsed),
        "non2xx": bad,
        "rate_per_segment": per_million,
        "bounded_by_time": stored < total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--max-ingest-seconds", type=float, default=1800.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tactful-synthetic-"))
    name = f"tactful_synth_{uuid.uuid4().hex[:8]}"
    admin = prod.admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = prod.pg_url(name)
    result: dict[str, Any] = {"asked": {"people": args.people, "items": args.items, "events": args.events}}
    try:
        with prod.private_redis(root) as redis_url:
            env = {**os.environ, "TACTFUL_DATABASE_URL": db, "TACTFUL_REDIS_URL": redis_url}
            cli = [sys.executable, "-m", "tactful.cli.main"]
            subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=300)
            port = base.free_port()
            data = root / "data"
            srv = prod.server(
                data,
                args.workers,
                port,
                root / "server.log",
                {
                    "TACTFUL_DATABASE_URL": db,
                    "TACTFUL_REDIS_URL": redis_url,
                    "TACTFUL_MAX_BATCH_EVENTS": str(BATCH),
                },
                "synthetic",
            )
            problems: list[dict[str, Any]] = []
            with base.serving(srv, port, "/v1/health/ready", problems) as url:
                started = time.perf_counter()
                with httpx.Client(base_url=url, timeout=600) as client:
                    for batch in items(args.items, args.seed):
                        assert client.post("/v1/items", json={"items": batch}).status_code == 200
                result["catalog_seconds"] = round(time.perf_counter() - started, 1)
                batches = event_batches(args.people, args.items, args.events, args.seed)
                result["ingest"] = ingest(url, batches, args.events, args.max_ingest_seconds)
                if args.train:
                    started = time.perf_counter()
                    trained = subprocess.run(
                        [*cli, "train", "--data-dir", str(data)],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=7200,
                    )
                    result["train"] = {
                        "seconds": round(time.perf_counter() - started, 1),
                        "ok": trained.returncode == 0,
                    }
                engine = sa.create_engine(db)
                with engine.connect() as conn:
                    people = [
                        r[0]
                        for r in conn.exec_driver_sql("SELECT id FROM persons ORDER BY random() LIMIT 2000")
                    ]
                    result["stored"] = {
                        "people": conn.exec_driver_sql("SELECT count(*) FROM persons").scalar(),
                        "events": conn.exec_driver_sql("SELECT count(*) FROM events").scalar(),
                        "database_mb": round(
                            float(
                                conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
                                or 0
                            )
                            / 2**20
                        ),
                    }
                engine.dispose()
                script = base.wrk_script(people, root / "people.lua")
                base.warm_up(url, people, args.workers, passes=1)
                result["recommend"] = base.wrk(url, script, prod.CONNS, args.seconds)
            result["problems"] = problems
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    text = report(result, args)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


def report(r: dict[str, Any], args: argparse.Namespace) -> str:
    rec = r["recommend"]
    ing = r["ingest"]
    s = r["stored"]
    lines = [
        "# Synthetic data size on PostgreSQL + Redis — preliminary",
        "",
        f"Asked: {args.people:,} people × {args.items:,} items × {args.events:,} events. "
        f"Reached: {s['people']:,} people with events, {args.items:,} items, {s['events']:,} events "
        f"({s['database_mb']:,} MB in PostgreSQL)"
        + (" — ingest stopped by its time bound." if ing["bounded_by_time"] else "."),
        f"{args.workers} workers, 2 ingest clients, wrk {prod.CONNS} connections for {args.seconds:g} s. "
        "2 shared cores: preliminary figures.",
        "",
        f"- catalog: {args.items:,} items in {r['catalog_seconds']} s",
        f"- batch ingest: {ing['events_per_s']:,} events/s overall ({ing['non2xx']} failed batches); "
        f"per million stored: {ing['rate_per_segment']}",
        f"- recommendations: {rec['req_per_s']:.0f} req/s, p50 {rec['p50_ms']:.1f} ms, "
        f"p99 {rec['p99_ms']:.1f} ms, "
        f"{rec['non2xx']} non-2xx",
    ]
    if "train" in r:
        lines.append(f"- training: {r['train']['seconds']} s (ok: {r['train']['ok']})")
    if r.get("problems"):
        lines.append(f"- server log problems: {json.dumps(r['problems'])[:400]}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
