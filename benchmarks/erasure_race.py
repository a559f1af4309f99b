"""The multi-worker erasure race: GET on worker 1, DELETE on worker 2, then look at the tables.

Starts two real ``tactful serve --no-auth`` processes on one data folder (SQLite, or the
PostgreSQL database given with ``--database-url``), loads a small catalog, and runs
``--trials`` rounds: a person gets an event and a few recommendations on worker 1 (whose
served lists and back-off counters are buffered in memory) and is erased on worker 2 right
away. After the flush interval has passed many times over, it counts the rows still keyed
by each erased person. A complete erasure leaves none.

    python benchmarks/erasure_race.py --trials 50 [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

TABLES = (
    "persons",
    "events",
    "interests",
    "person_items",
    "recommendations",
    "promotion_exposures",
    "person_policy",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(data: Path, database_url: str | None) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    env = {
        **os.environ,
        "TACTFUL_MODELS__RETRAIN_EVERY_MINUTES": "0",
        "TACTFUL_MODELS__RETRAIN_AFTER_EVENTS": "0",
        "TACTFUL_SERVING__ACCESS_LOG": "false",
    }
    if database_url:
        env["TACTFUL_DATABASE_URL"] = database_url
    procs, urls = [], []
    for _ in range(2):
        port = _free_port()
        cmd = [sys.executable, "-m", "tactful.cli.main", "serve", "--no-auth", "--port", str(port)]
        procs.append(
            subprocess.Popen(
                [*cmd, "--data-dir", str(data)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )
        urls.append(f"http://127.0.0.1:{port}/v1")
    for proc, url in zip(procs, urls, strict=True):
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit("a server exited early")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("a server did not start")
            time.sleep(0.2)
    return procs, urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        procs, urls = _start(data, args.database_url)
        try:
            items = [
                {"id": f"i{k}", "title": f"Item {k}", "tags": [f"genre:g{k % 3}", f"creator:c{k % 5}"]}
                for k in range(30)
            ]
            assert httpx.post(f"{urls[0]}/items", json={"items": items}, timeout=30).status_code == 200
            users = [f"race-{os.getpid()}-{n}" for n in range(args.trials)]
            with httpx.Client(timeout=30) as client:
                for user in users:
                    event = {"user_id": user, "item_id": "i1", "type": "like"}
                    assert client.post(f"{urls[0]}/events", json=event).status_code == 200
                    for _ in range(3):
                        resp = client.get(f"{urls[0]}/users/{user}/recommendations")
                        assert resp.status_code == 200, resp.text
                    assert client.delete(f"{urls[1]}/users/{user}").status_code == 200
            time.sleep(2.0)  # many flush intervals of worker 1
            url = args.database_url or f"sqlite:///{data / 'tactful.sqlite3'}"
            engine = sa.create_engine(url)
            leaked: dict[str, dict[str, int]] = {}
            with engine.connect() as conn:
                for user in users:
                    for table in TABLES:
                        column = "id" if table == "persons" else "user_id"
                        n = conn.execute(
                            sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :u"), {"u": user}
                        ).scalar()
                        if n:
                            leaked.setdefault(user, {})[table] = int(n)
            engine.dispose()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    tables: dict[str, int] = {}
    for rows in leaked.values():
        for table in rows:
            tables[table] = tables.get(table, 0) + 1
    backend = "postgresql" if args.database_url else "sqlite"
    report = {"backend": backend, "trials": args.trials, "incomplete": len(leaked), "by_table": tables}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
