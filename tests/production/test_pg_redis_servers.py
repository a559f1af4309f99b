"""Production mode for real: two `tactful serve` processes that share only PostgreSQL and Redis.

Each server has a data folder of its own (as on two hosts: no shared disk), the same
``TACTFUL_DATABASE_URL`` (a database of this module's, created with `tactful db upgrade`)
and the same ``TACTFUL_REDIS_URL``: a private ``redis-server`` on a free port that the
outage test kills and starts again. Everything is killed in finalizers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PG_ADMIN_URL, media_items

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
REDIS = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A private redis-server (nothing kept on disk) that can be killed and started again."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS is not None
        cmd = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [*cmd, "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=15)

    def post(self, path: str, body: object) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, timeout=15)

    def recommend(self, user: str, **params: object) -> dict:
        resp = self.get(f"/v1/users/{user}/recommendations", **params)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        resp = self.get("/metrics")
        assert resp.status_code == 200
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(resp.text):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out


@dataclass
class Deployment:
    database_url: str
    redis: RedisProcess
    servers: list[Server]


def start_server(root: Path, env: dict[str, str], name: str, workers: int = 1) -> Server:
    port = free_port()
    log = root / f"{name}.log"
    cmd = [sys.executable, "-m", "tactful.cli.main", "serve", "--no-auth", "--port", str(port)]
    cmd += ["--data-dir", str(root / name), "--workers", str(workers)]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited early:\n{log.read_text()}"
        try:
            if server.get("/v1/health/ready").status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not become ready:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def require_redis_server() -> None:
    """Fail in CI, skip elsewhere, when Debian's redis-server is not installed."""
    if REDIS is None:
        if os.environ.get("CI"):
            raise RuntimeError("redis-server is needed for the production tests (Debian's redis-server)")
        pytest.skip("redis-server is not installed")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    require_redis_server()
    root = tmp_path_factory.mktemp("production")
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"tactful_prod_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # pragma: no cover - only without a server
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    redis = RedisProcess(root)
    servers: list[Server] = []
    try:
        redis.start()
        env = {
            **os.environ,
            "TACTFUL_DATABASE_URL": database_url,
            "TACTFUL_REDIS_URL": redis.url,
            "TACTFUL_AUTH__TOKEN_SECRET": "s" * 32,  # shared by both hosts, as in production
            "TACTFUL_MODELS__RETRAIN_EVERY_MINUTES": "0",
            "TACTFUL_MODELS__RETRAIN_AFTER_EVENTS": "0",
            "TACTFUL_POLICY__HINTS__VISIT_MINUTES": "0",  # every list counts for back-off
            "TACTFUL_POLICY__HINTS__BACKOFF_AFTER_IGNORED": "1000",
            "TACTFUL_SERVING__LOG_FORMAT": "json",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        cli = [sys.executable, "-m", "tactful.cli.main", "db"]
        refused = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 3 and "tactful db upgrade" in refused.stdout
        upgraded = subprocess.run([*cli, "upgrade"], env=env, capture_output=True, text=True, timeout=120)
        assert upgraded.returncode == 0, upgraded.stderr
        servers = [start_server(root, env, "host-a"), start_server(root, env, "host-b")]
        items = {"items": [i.model_dump(mode="json") for i in media_items()]}
        assert servers[0].post("/v1/items", items).status_code == 200
        yield Deployment(database_url, redis, servers)
    finally:
        for server in servers:
            stop(server.proc)
        redis.kill()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def like(server: Server, user: str, *items: str) -> None:
    body = {"events": [{"user_id": user, "item_id": i, "type": "like"} for i in items]}
    resp = server.post("/v1/events/batch", body)
    assert resp.status_code == 200, resp.text


def dislike(server: Server, user: str, item: str) -> None:
    resp = server.post("/v1/events", {"user_id": user, "item_id": item, "type": "dislike"})
    assert resp.status_code == 200, resp.text


def ids(body: dict) -> list[str]:
    return [i["item_id"] for i in body["items"]]


def check_reflected_across_hosts(d: Deployment, user: str) -> None:
    """Each host's event shows in the other host's very next response, kept answers and all."""
    a, b = d.servers
    like(a, user, "jazz-1", "jazz-2", "jazz-3")
    for writer, reader in ((a, b), (b, a), (a, b), (b, a)):
        first = reader.recommend(user, n=10)
        assert reader.recommend(user, n=10)["items"] == first["items"]  # kept: served again
        target = ids(first)[0]
        dislike(writer, user, target)
        after = ids(reader.recommend(user, n=10))
        assert target not in after, f"{target} disliked on {writer.url}, still served by {reader.url}"
    assert b.get(f"/v1/users/{user}/profile").json()["positive_signals"] >= 3


def backoff_in_redis(d: Deployment, user: str) -> int | None:
    raw = d.redis.client().get(f"tactful:bo:{user}")
    return None if raw is None else int(json.loads(raw)[1])


def test_an_event_on_one_host_is_in_the_other_hosts_next_response(deployment: Deployment) -> None:
    check_reflected_across_hosts(deployment, "cross-1")


def test_back_off_counters_are_shared_at_once_through_redis(deployment: Deployment) -> None:
    a, b = deployment.servers
    user = "counted"
    stated = httpx.post(f"{a.url}/v1/users/{user}/interests/genre:rock", timeout=15)
    assert stated.status_code == 200, stated.text  # a stated interest: personalized slots at once
    seen: list[int] = []
    for n in range(6):  # alternate hosts faster than either writes its buffer to the database
        (a if n % 2 == 0 else b).recommend(user, n=10)
        count = backoff_in_redis(deployment, user)
        assert count is not None
        seen.append(count)
    # each host counted on from the other's newest counter: it only ever grew
    assert all(x < y for x, y in zip(seen, seen[1:], strict=False)), seen
    time.sleep(1.5)  # both buffers written
    engine = sa.create_engine(deployment.database_url)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT ignored_slots FROM person_policy WHERE user_id = %s", (user,)
        ).scalar()
    engine.dispose()
    assert stored == seen[-1]


def test_metrics_parse_and_move(deployment: Deployment) -> None:
    a, _ = deployment.servers
    before = a.metrics()
    like(a, "metered", "folk-1", "folk-2")
    a.recommend("metered", surface="home")
    a.recommend("metered", surface="sidebar_unconfigured")
    after = a.metrics()

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("tactful_events_ingested_total", type="like") == 2
    assert moved("tactful_recommendations_served_total", surface="home") == 1
    assert moved("tactful_recommendations_served_total", surface="other") == 1
    route = "/v1/users/{user_id}/recommendations"
    assert moved("tactful_http_request_duration_seconds_count", route=route, method="GET", status="200") == 2
    assert after[("tactful_redis_up", ())] == 1
    labels = {v for _, pairs in after for _, v in pairs}
    assert "metered" not in labels and not any("metered" in v for v in labels)  # no person ids


def test_request_ids_are_echoed_and_logged(deployment: Deployment) -> None:
    a, _ = deployment.servers
    given = a.get("/v1/health/live")
    assert len(given.headers["x-request-id"]) == 16
    mine = httpx.get(f"{a.url}/v1/popular", headers={"X-Request-ID": "trace-me-42"}, timeout=10)
    assert mine.headers["x-request-id"] == "trace-me-42"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in a.log.read_text().splitlines() if x.startswith("{")]
        hits = [x for x in lines if x.get("request_id") == "trace-me-42"]
        if hits:
            assert hits[0]["logger"] == "tactful.access" and hits[0]["route"] == "/v1/popular"
            return
        time.sleep(0.1)
    raise AssertionError("the access line with the request id was not logged")


def test_redis_outage_degrades_then_recovers(deployment: Deployment) -> None:
    d = deployment
    a, b = d.servers
    d.redis.kill()
    try:
        check_reflected_across_hosts(d, "during-outage")  # correct without Redis
        for server in (a, b):
            ready = server.get("/v1/health/ready")
            assert ready.status_code == 200, ready.text  # degraded, still serving correctly
            assert ready.json()["checks"]["redis"]["ok"] is False
            assert server.metrics()[("tactful_redis_up", ())] == 0
            assert "Redis at" in server.log.read_text() and "unavailable" in server.log.read_text()
    finally:
        d.redis.start()
    deadline = time.monotonic() + 20
    for server in (a, b):
        while True:
            server.recommend("after-outage")  # the next calls find Redis again
            if server.get("/v1/health/ready").json()["checks"]["redis"]["ok"]:
                break
            assert time.monotonic() < deadline, "Redis never came back for " + server.url
            time.sleep(0.3)
        assert "is back after" in server.log.read_text()
    while d.redis.client().pubsub_numsub("tactful:changes")[0][1] < 2:  # both resubscribed
        assert time.monotonic() < deadline, "the subscriptions did not come back"
        time.sleep(0.2)
    assert httpx.post(f"{a.url}/v1/users/after-outage/interests/genre:jazz", timeout=15).status_code == 200
    a.recommend("after-outage", n=10)
    assert backoff_in_redis(d, "after-outage") is not None  # counters go to Redis again
    check_reflected_across_hosts(d, "after-outage-2")


def test_several_workers_sum_their_metrics_and_stop_gracefully(
    deployment: Deployment, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "TACTFUL_DATABASE_URL": deployment.database_url,
        "TACTFUL_REDIS_URL": deployment.redis.url,
        "TACTFUL_AUTH__TOKEN_SECRET": "s" * 32,
        "TACTFUL_MODELS__RETRAIN_EVERY_MINUTES": "0",
        "TACTFUL_MODELS__RETRAIN_AFTER_EVENTS": "0",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = start_server(tmp_path, env, "two-workers", workers=2)
    try:
        before = server.metrics()
        for n in range(12):  # spread over both workers by the kernel
            like(server, f"multi-{n}", "rock-5")
        after = server.metrics()
        key = ("tactful_events_ingested_total", (("type", "like"),))
        assert after[key] - before.get(key, 0.0) == 12  # every worker's count, summed
        served = {server.recommend(f"multi-{n}")["recommendation_id"] for n in range(6)}
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0
    finally:
        stop(server.proc)
    engine = sa.create_engine(deployment.database_url)
    with engine.connect() as conn:
        stored = {r[0] for r in conn.exec_driver_sql("SELECT id FROM recommendations")}
    engine.dispose()
    assert served <= stored  # the buffered lists were written on the way out
