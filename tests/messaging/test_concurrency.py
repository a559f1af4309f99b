"""Two planner processes at once against one store never double-send (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from tactful import Engine, ManualClock, Settings
from tactful.config.messaging import MessagingSettings
from tests.messaging.conftest import START, make_engine, subscribe, topics

PEOPLE = 24


def _planner(url: str, data_dir: str, now: str, go: object, out: object) -> None:
    clock = ManualClock(datetime.fromisoformat(now))
    settings = Settings(
        data_dir=Path(data_dir), database_url=url, messaging=MessagingSettings(topics=topics())
    )
    with Engine(settings, clock=clock) as engine:
        go.wait()  # type: ignore[attr-defined]
        report = engine.plan_messages()
        out.put(report.counts)  # type: ignore[attr-defined]


def _run_two(url: str, tmp_path: Path) -> list[dict[str, int]]:
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_planner, args=(url, str(tmp_path / f"p{k}"), START.isoformat(), go, out))
        for k in range(2)
    ]
    for p in procs:
        p.start()
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        store = request.getfixturevalue("pg_store")  # fresh tables
        return str(store.url)
    return f"sqlite:///{tmp_path}/shared.sqlite3"


def test_two_planner_processes_plan_each_period_once(store_url: str, tmp_path: Path) -> None:
    clock = ManualClock(START)
    with make_engine(tmp_path / "setup", clock, url=store_url) as engine:
        for k in range(PEOPLE):
            # two channels, but a cap of one message a day across channels
            subscribe(engine, f"p{k}", channels=["email", "push"], caps=[{"count": 1, "days": 1}])
    results = _run_two(store_url, tmp_path)
    planned = sum(r.get("planned", 0) for r in results)
    with make_engine(tmp_path / "check", clock, url=store_url) as engine:
        rows = engine.outbox(limit=1000)
        keys = Counter(m.key for m in rows)
        assert len(rows) == 2 * PEOPLE and max(keys.values()) == 1
        queued = Counter(m.user_id for m in rows if m.status == "queued")
        assert queued == Counter({f"p{k}": 1 for k in range(PEOPLE)}), queued  # the cap held across planners
        assert planned == PEOPLE
        assert engine.plan_messages().counts == {}  # and a third run adds nothing
