"""Two real server processes on one SQLite data folder: fresh across workers, no 5xx, nothing lost.

Both are ``tactful serve --no-auth`` subprocesses on free ports, as two uvicorn workers would
be; they are always killed in a finalizer. The last test stops them with SIGTERM and checks
that every recommendation id either returned was stored (the lifespan writes the buffer).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import media_items

pytestmark = pytest.mark.slow


@dataclass
class Pair:
    data: Path
    procs: list[subprocess.Popen[bytes]]
    urls: list[str]
    served: set[str] = field(default_factory=set)  # every recommendation id returned
    lock: threading.Lock = field(default_factory=threading.Lock)

    def recommend(self, client: httpx.Client, worker: int, user: str, **params: object) -> list[dict]:
        resp = client.get(f"{self.urls[worker]}/users/{user}/recommendations", params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        with self.lock:
            self.served.add(body["recommendation_id"])
        return list(body["items"])

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.data / 'tactful.sqlite3'}?mode=ro", uri=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited early"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def start_servers(
    data: Path, procs: list[subprocess.Popen[bytes]], env: dict[str, str] | None = None, count: int = 2
) -> list[str]:
    """Start ``count`` real ``tactful serve`` processes on one data folder (appended to
    ``procs``, for the caller to stop), wait until each answers, load the test catalog;
    returns their ``/v1`` base URLs."""
    environ = {
        **os.environ,
        "TACTFUL_MODELS__RETRAIN_EVERY_MINUTES": "0",
        "TACTFUL_MODELS__RETRAIN_AFTER_EVENTS": "0",
        "TACTFUL_SERVING__ACCESS_LOG": "false",
        **(env or {}),
    }
    urls: list[str] = []
    for _ in range(count):
        port = _free_port()
        cmd = [sys.executable, "-m", "tactful.cli.main", "serve", "--no-auth", "--port", str(port)]
        procs.append(
            subprocess.Popen(
                [*cmd, "--data-dir", str(data)],
                env=environ,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls.append(f"http://127.0.0.1:{port}/v1")
    for proc, url in zip(procs[-count:], urls, strict=True):
        _wait_ready(proc, url)
    items = {"items": [i.model_dump(mode="json") for i in media_items()]}
    assert httpx.post(f"{urls[0]}/items", json=items, timeout=10).status_code == 200
    return urls


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    data = tmp_path_factory.mktemp("workers") / "data"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls = start_servers(data, procs)
        yield Pair(data, procs, urls)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def _dislike(client: httpx.Client, url: str, user: str, item: str) -> None:
    event = {"user_id": user, "item_id": item, "type": "dislike"}
    assert client.post(f"{url}/events", json=event).status_code == 200


@pytest.mark.parametrize(("writer", "reader"), [(0, 1), (1, 0)])
def test_an_event_on_one_worker_changes_the_next_response_on_the_other(
    pair: Pair, writer: int, reader: int
) -> None:
    user = f"fresh-{writer}"
    with httpx.Client(timeout=10) as client:
        pair.recommend(client, reader, user)  # the reader has this person cached now
        for item in ("jazz-1", "jazz-2"):
            event = {"user_id": user, "item_id": item, "type": "like"}
            assert client.post(f"{pair.urls[writer]}/events", json=event).status_code == 200
        before = [i["item_id"] for i in pair.recommend(client, reader, user, n=10)]
        target = before[0]
        _dislike(client, pair.urls[writer], user, target)
        after = [i["item_id"] for i in pair.recommend(client, reader, user, n=10)]
        assert target not in after, f"{target} disliked through worker {writer}, still served by {reader}"


def test_a_mute_on_one_worker_is_honoured_by_the_other(pair: Pair) -> None:
    user = "muter"
    with httpx.Client(timeout=10) as client:
        for item in ("folk-1", "folk-2", "rock-1"):
            event = {"user_id": user, "item_id": item, "type": "like"}
            assert client.post(f"{pair.urls[0]}/events", json=event).status_code == 200
        listed = pair.recommend(client, 1, user, n=20)
        tag = next(t for t in listed[0]["tags"] if t.startswith("genre:"))
        resp = client.post(f"{pair.urls[0]}/users/{user}/mutes/{tag}")
        assert resp.status_code == 200
        after = pair.recommend(client, 1, user, n=20)
        assert after and all(tag not in i["tags"] for i in after)


def test_concurrent_batches_on_both_workers_lose_nothing_and_never_5xx(pair: Pair) -> None:
    items = [i.id for i in media_items()]
    acked: set[str] = set()
    statuses: list[int] = []
    lock = threading.Lock()
    done = threading.Event()

    def post(thread: int) -> None:
        with httpx.Client(timeout=60) as client:
            for b in range(6):
                events = [
                    {
                        "id": f"t{thread}-b{b}-{k}",
                        "user_id": f"load-{(thread * 7 + b + k) % 25}",
                        "item_id": items[(thread * 5 + b * 3 + k) % len(items)],
                        "type": ("view", "click", "like", "play")[k % 4],
                        "value": 90.0 if k % 4 == 3 else None,
                    }
                    for k in range(200)
                ]
                resp = client.post(f"{pair.urls[(thread + b) % 2]}/events/batch", json={"events": events})
                with lock:
                    statuses.append(resp.status_code)
                    if resp.status_code == 200:
                        assert resp.json()["accepted"] == len(events)
                        acked.update(e["id"] for e in events)

    def fetch(reader: int) -> None:
        with httpx.Client(timeout=60) as client:
            k = 0
            while not done.is_set():
                resp = client.get(f"{pair.urls[reader]}/users/load-{k % 25}/recommendations")
                with lock:
                    statuses.append(resp.status_code)
                if resp.status_code == 200:
                    with pair.lock:
                        pair.served.add(resp.json()["recommendation_id"])
                k += 1

    posters = [threading.Thread(target=post, args=(t,)) for t in range(4)]
    fetchers = [threading.Thread(target=fetch, args=(r,)) for r in (0, 1)]
    for th in posters + fetchers:
        th.start()
    for th in posters:
        th.join(timeout=120)
    done.set()
    for th in fetchers:
        th.join(timeout=60)
    assert not [s for s in statuses if s >= 500], f"5xx responses: {sorted(set(statuses))}"
    assert len(acked) == 4 * 6 * 200  # every batch was acknowledged
    with pair.db() as db:
        stored = {r[0] for r in db.execute("SELECT event_id FROM events WHERE event_id LIKE 't%-b%'")}
    assert acked <= stored, f"lost {len(acked - stored)} acknowledged events"


def _late_rows(pair: Pair, user: str) -> dict[str, int]:
    """Rows still keyed by the person, per table (only tables that have some)."""
    found: dict[str, int] = {}
    with pair.db() as db:
        for table in ("persons", "events", "recommendations", "person_policy", "promotion_exposures"):
            column = "id" if table == "persons" else "user_id"
            n = db.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (user,)).fetchone()[0]
            if n:
                found[table] = n
    return found


def test_an_erasure_on_one_worker_is_complete_whatever_the_other_buffered(pair: Pair) -> None:
    """GET on worker 1 (its list and counter are buffered), DELETE on worker 2 at once: after
    worker 1's next flush, no row of the person may be left. Before tombstones, most trials
    left ``recommendations`` (and ``person_policy``) rows behind."""
    leaks: dict[str, dict[str, int]] = {}
    with httpx.Client(timeout=10) as client:
        for trial in range(10):
            user = f"erase-{trial}"
            _dislike(client, pair.urls[0], user, "jazz-0")
            for _ in range(3):  # not pair.recommend: these lists are meant to be erased
                assert client.get(f"{pair.urls[0]}/users/{user}/recommendations").status_code == 200
            assert client.delete(f"{pair.urls[1]}/users/{user}").status_code == 200
        time.sleep(1.5)  # several flush intervals of worker 1
        for trial in range(10):
            left = _late_rows(pair, f"erase-{trial}")
            if left:
                leaks[f"erase-{trial}"] = left
    assert not leaks, f"{len(leaks)} of 10 erasures left rows: {leaks}"


def test_every_served_list_is_stored_after_a_graceful_stop(pair: Pair) -> None:
    with httpx.Client(timeout=10) as client:
        for k in range(20):  # the last lists are still buffered when the stop comes
            pair.recommend(client, k % 2, f"late-{k}")
    for proc in pair.procs:
        proc.send_signal(signal.SIGTERM)
    for proc in pair.procs:  # uvicorn shuts down gracefully, then exits by the signal it got
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    with pair.db() as db:
        stored = {r[0] for r in db.execute("SELECT id FROM recommendations")}
    assert pair.served and pair.served <= stored, f"{len(pair.served - stored)} served lists not stored"


def test_each_worker_listens_on_its_own_tcp_socket_so_connections_get_nodelay() -> None:
    """With several workers, accepted connections must send at once (no delayed-ACK stall),
    and each worker gets its own listening socket on the port (the supervisor only holds it)."""
    import pickle
    import socket

    import uvicorn

    from tactful.cli.server import PortReservation, listeners

    [held] = listeners(uvicorn.Config("tactful.cli.server:app_factory", host="127.0.0.1", port=0))
    assert isinstance(held, PortReservation)
    port = held.address[1]
    workers = [pickle.loads(pickle.dumps(held)) for _ in range(2)]  # what each spawned worker gets
    try:
        for sock in workers:
            assert sock.proto == socket.IPPROTO_TCP and sock.type == socket.SOCK_STREAM
            assert sock.getsockname()[1] == port and sock.fileno() != held.fileno()
            sock.listen()
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        accepted = {id(s): 0 for s in workers}
        for sock in workers:
            sock.setblocking(False)
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    break
                assert conn.proto == socket.IPPROTO_TCP  # what asyncio checks before setting TCP_NODELAY
                accepted[id(sock)] += 1
                conn.close()
        for c in clients:
            c.close()
        # the kernel spreads connections over both sockets (by address hash; 32 all on one
        # would be a chance of 2 in 2**32), and none goes to the supervisor's reservation
        assert sum(accepted.values()) == 32 and min(accepted.values()) > 0
    finally:
        for sock in (*workers, held):
            sock.close()


def test_a_port_in_use_fails_at_start_up() -> None:
    import socket

    import uvicorn

    from tactful.cli.server import listeners

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            listeners(uvicorn.Config("tactful.cli.server:app_factory", host="127.0.0.1", port=port))
