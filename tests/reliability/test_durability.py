"""Reliability: atomic batches, acknowledged events survive kill -9, concurrent writers lose nothing."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tactful import Engine, Event, Settings
from tactful.cli.main import app as cli
from tactful.storage import SqlStore, open_store
from tactful.storage.sql import SqlUnitOfWork
from tests.conftest import media_items

USERS = [f"u{k}" for k in range(10)]
ITEMS = [i.id for i in media_items()]


def _counts(store: SqlStore) -> dict[str, float]:
    with store.engine.connect() as conn:
        interactions = conn.exec_driver_sql("SELECT COALESCE(SUM(interactions), 0) FROM item_stats").scalar()
        signals = conn.exec_driver_sql("SELECT COALESCE(SUM(positive_signals), 0) FROM persons").scalar()
    return {
        "events": store.count("events"),
        "persons": store.count("persons"),
        "interests": store.count("interests"),
        "interactions": float(interactions or 0),
        "signals": float(signals or 0),
    }


def test_a_batch_that_fails_mid_write_leaves_nothing(catalog_engine: Engine, monkeypatch) -> None:
    catalog_engine.ingest([Event(user_id="u0", item_id="jazz-1", type="like")])
    before = _counts(catalog_engine.store)

    def boom(self: SqlUnitOfWork, stats: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SqlUnitOfWork, "save_item_stats", boom)
    batch = [Event(user_id=u, item_id=i, type="like") for u in ("new1", "u0") for i in ITEMS[:5]]
    with pytest.raises(RuntimeError):
        catalog_engine.ingest(batch)
    assert _counts(catalog_engine.store) == before
    monkeypatch.undo()
    catalog_engine.states.clear()
    assert catalog_engine.profile("new1").positive_signals == 0
    assert catalog_engine.ingest(batch).accepted == 10


def _process_writer(url: str, worker: int, batches: int, size: int) -> None:
    """A worker process: its own engine, like one uvicorn worker (it may be the one migrating)."""
    with Engine(Settings(data_dir=Path(os.environ.get("TMPDIR", "/tmp"))), store=open_store(url)) as engine:
        engine.upsert_items(media_items())
        _write(engine, worker, batches, size)


def _events(worker: int, b: int, size: int) -> list[Event]:
    return [
        Event(
            id=f"w{worker}-b{b}-{k}",
            user_id=USERS[(worker + b + k) % len(USERS)],
            item_id=ITEMS[(worker * 7 + b * 3 + k) % len(ITEMS)],
            type=("like", "click", "view")[k % 3],
        )
        for k in range(size)
    ]


def _positive_signals(workers: list[int], batches: int, size: int) -> int:
    """Clicks and views each count; a like is a state, so a person's likes of one item count once."""
    events = [e for w in workers for b in range(batches) for e in _events(w, b, size)]
    likes = {(e.user_id, e.item_id) for e in events if e.type == "like"}
    return sum(e.type != "like" for e in events) + len(likes)


def _write(engine: Engine, worker: int, batches: int, size: int) -> None:
    for b in range(batches):
        events = _events(worker, b, size)
        result = engine.ingest(events)
        assert result.accepted == size
        if b % 5 == 0:  # replays are idempotent under contention too
            assert engine.ingest(events[:3]).duplicates == 3


def _hammer(url: str, threads: int, processes: int, batches: int = 12, size: int = 20) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_process_writer, args=(url, 100 + p, batches, size)) for p in range(processes)
    ]
    for p in procs:
        p.start()
    store = open_store(url)  # races the processes to migrate a fresh database
    shared = Engine(Settings(), store=store)  # the threads of one worker share its engine
    shared.upsert_items(media_items())
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            _write(shared, worker, batches, size)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(w,)) for w in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    for p in procs:
        p.join(timeout=300)
    assert errors == [] and [p.exitcode for p in procs] == [0] * processes
    expected = (threads + processes) * batches * size
    counts = _counts(store)
    assert counts["events"] == expected
    assert counts["interactions"] == pytest.approx(expected)  # every like/click/view counted once
    workers = list(range(threads)) + [100 + p for p in range(processes)]
    assert counts["signals"] == _positive_signals(workers, batches, size)
    assert counts["persons"] == len(USERS)
    shared.close()


@pytest.mark.slow
def test_concurrent_writers_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/many.sqlite3"
    _hammer(url, threads=4, processes=3)  # on a fresh file: first start by many workers too
    store = open_store(url)
    assert store.schema_version() == SqlStore.head_revision()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


@pytest.mark.slow
@pytest.mark.postgres
def test_concurrent_writers_postgres(pg_store: SqlStore) -> None:
    _hammer(pg_store.url, threads=4, processes=3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(data: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tactful.cli.main", "serve", "--port", str(port), "--data-dir", str(data)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


@pytest.mark.slow
def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "srv"
    made = CliRunner().invoke(
        cli, ["keys", "create", "--name", "t", "--scope", "admin", "--data-dir", str(data)]
    )
    secret = next(line for line in made.output.splitlines() if line.startswith("tk_"))
    headers = {"Authorization": f"Bearer {secret}"}
    port = _free_port()
    proc = _start(data, port)
    base = f"http://127.0.0.1:{port}/v1"
    acked: list[str] = []
    try:
        items = {"items": [i.model_dump(mode="json") for i in media_items()]}
        assert httpx.post(f"{base}/items", json=items, headers=headers).status_code == 200
        killer = threading.Timer(1.5, lambda: os.kill(proc.pid, signal.SIGKILL))
        killer.start()
        with httpx.Client(headers=headers, timeout=5) as client:
            n = 0
            while proc.poll() is None:
                batch = [
                    {"id": f"k{n}-{j}", "user_id": USERS[n % 10], "item_id": ITEMS[j], "type": "like"}
                    for j in range(5)
                ]
                try:
                    resp = client.post(f"{base}/events/batch", json={"events": batch})
                except httpx.HTTPError:
                    break
                if resp.status_code == 200:
                    acked.extend(e["id"] for e in batch)
                n += 1
        killer.join()
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        assert len(acked) >= 50
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = _start(data, port)
    try:
        stored: set[str] = set()
        for user in USERS:
            bundle = httpx.get(f"{base}/users/{user}/export", headers=headers, timeout=10).json()
            stored.update(e["event_id"] for e in bundle["tables"]["events"])
        assert set(acked) <= stored, f"lost {len(set(acked) - stored)} acknowledged events"
        assert len(stored) - len(acked) <= 5  # at most the one batch in flight at the kill
    finally:
        proc.terminate()
        proc.wait(timeout=20)
