"""Concurrent retries of one event id over HTTP: statuses, and how often each event is stored.

Starts two real ``tactful serve --no-auth`` processes on one database (PostgreSQL with
``--database-url``, else SQLite), then (1) posts ``--batches`` identical batches at once,
``--rounds`` times, and (2) posts ``--singles`` identical single events at once for each of
``--ids`` ids, alternating between the servers. Prints the status counts and whether every
event was stored exactly once.

    python benchmarks/idempotency_race.py --database-url postgresql+psycopg://postgres@127.0.0.1/db
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from erasure_race import _start  # noqa: E402  (the same two-server start-up)


def _at_once(n: int, post: Any) -> list[int]:
    barrier = threading.Barrier(n)
    out: list[int] = [0] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = post(i).status_code
        except httpx.HTTPError:
            out[i] = -1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--singles", type=int, default=4)
    parser.add_argument("--ids", type=int, default=20)
    args = parser.parse_args()
    tag = f"p{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        procs, urls = _start(data, args.database_url)
        try:
            items = [{"id": f"i{k}", "title": f"Item {k}", "tags": [f"genre:g{k % 3}"]} for k in range(20)]
            assert httpx.post(f"{urls[0]}/items", json={"items": items}, timeout=30).status_code == 200
            clients = [httpx.Client(timeout=60) for _ in range(max(args.batches, args.singles))]
            batch_status: Counter[int] = Counter()
            expected = 0
            for r in range(args.rounds):
                batch = {
                    "events": [
                        {"id": f"{tag}-b{r}-{k}", "user_id": f"{tag}-u{k % 4}", "item_id": f"i{k}"}
                        | {"type": "like"}
                        for k in range(10)
                    ]
                }
                expected += 10
                batch_status.update(
                    _at_once(
                        args.batches,
                        lambda i, b=batch: clients[i].post(f"{urls[i % 2]}/events/batch", json=b),
                    )
                )
            single_status: Counter[int] = Counter()
            for k in range(args.ids):
                event = {"id": f"{tag}-s{k}", "user_id": f"{tag}-solo", "item_id": "i1", "type": "click"}
                expected += 1
                single_status.update(
                    _at_once(
                        args.singles,
                        lambda i, e=event: clients[i].post(f"{urls[i % 2]}/events", json=e),
                    )
                )
            for client in clients:
                client.close()
            url = args.database_url or f"sqlite:///{data / 'tactful.sqlite3'}"
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT event_id, count(*) FROM events WHERE event_id LIKE :p GROUP BY event_id"),
                    {"p": f"{tag}-%"},
                ).all()
            engine.dispose()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    report = {
        "backend": "postgresql" if args.database_url else "sqlite",
        "batches": {"posts": sum(batch_status.values()), "status": dict(batch_status)},
        "singles": {"posts": sum(single_status.values()), "status": dict(single_status)},
        "events_expected": expected,
        "events_stored": len(rows),
        "stored_more_than_once": sum(1 for _, n in rows if n > 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
