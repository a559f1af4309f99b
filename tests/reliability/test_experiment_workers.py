"""Exposures and attributions across two real server processes on one SQLite data folder.

Many threads ask both workers for lists for the same people at once and send clicks
carrying the recommendation ids; after a graceful stop, the database holds exactly one
exposure per person, one served row per list, and every click attributed once.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tactful import Engine, Settings
from tactful.config.security import AuthSettings
from tests.reliability.test_workers import start_servers

pytestmark = pytest.mark.slow
PEOPLE = 40
ROUNDS = 4


def test_exposures_and_attributions_are_exact_across_two_workers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls = start_servers(
            data,
            procs,
            {
                "TACTFUL_EXPERIMENTS__REFRESH_SECONDS": "0",
                "TACTFUL_EXPERIMENTS__TICK_MINUTES": "0",
                "TACTFUL_EXPERIMENTS__HOLDOUT": "off",
            },
        )
        body = {
            "id": "exp-w",
            "name": "two workers",
            "variants": [
                {"name": "control"},
                {"name": "wide", "config": {"surfaces": {"home": {"exploration_share": 0.3}}}},
            ],
            "rollout": {"steps": [{"percent": 100}]},
        }
        assert httpx.post(f"{urls[0]}/experiments", json=body, timeout=10).status_code == 201
        assert httpx.post(f"{urls[1]}/experiments/exp-w/start", timeout=10).status_code == 200

        lock = threading.Lock()
        served: list[str] = []
        clicks: Counter[str] = Counter()

        def visit(job: tuple[int, int]) -> None:
            person, rnd = job
            user = f"w{person}"
            with httpx.Client(timeout=30) as client:
                for worker in (rnd % 2, (rnd + 1) % 2):
                    resp = client.get(f"{urls[worker]}/users/{user}/recommendations", params={"n": 4})
                    assert resp.status_code == 200, resp.text
                    got = resp.json()
                    rec = got["recommendation_id"]
                    event = {
                        "user_id": user,
                        "item_id": got["items"][0]["item_id"],
                        "type": "click",
                        "recommendation_id": rec,
                    }
                    other = client.post(f"{urls[1 - worker]}/events", json=event)
                    assert other.status_code == 200, other.text
                    with lock:
                        served.append(rec)
                        clicks[user] += 1

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(visit, [(p, r) for r in range(ROUNDS) for p in range(PEOPLE)]))
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    with sqlite3.connect(f"file:{data / 'tactful.sqlite3'}?mode=ro", uri=True) as db:
        exposures = db.execute(
            "SELECT user_id, variant FROM experiment_exposures WHERE experiment_id='exp-w'"
        ).fetchall()
        rows = db.execute(
            "SELECT rec_id, user_id, variant FROM experiment_served WHERE experiment_id='exp-w'"
        ).fetchall()
    assert len(exposures) == PEOPLE == len({u for u, _ in exposures})
    variant = dict(exposures)
    assert sorted(r for r, _, _ in rows) == sorted(served)  # every list once, none lost
    assert all(variant[u] == v for _, u, v in rows)  # one variant per person on both workers
    with Engine(Settings(data_dir=data, auth=AuthSettings(enabled=False))) as engine:
        report = engine.experiments.report("exp-w")
    ctr = next(m for m in report.metrics if m.metric == "ctr")
    assert sum(v.numerator for v in ctr.variants) == sum(clicks.values()) == PEOPLE * ROUNDS * 2
    assert sum(v.people for v in ctr.variants) == PEOPLE
