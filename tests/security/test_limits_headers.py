from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tactful import Engine, ManualClock, Settings
from tactful.config.security import AuthSettings, HttpSettings, RateLimitSettings
from tactful.security.keys import KeyRing
from tactful.security.ratelimit import MemoryRateLimiter, RedisRateLimiter
from tactful.web.site import create_site
from tests.security.conftest import bearer

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_memory_bucket_refills_with_the_clock(clock: ManualClock) -> None:
    limiter = MemoryRateLimiter(clock)
    assert [limiter.acquire("k", 2.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("k", 2.0, 3) == pytest.approx(0.5)
    assert limiter.acquire("other", 2.0, 3) == 0.0  # buckets are per key
    clock.advance(seconds=0.5)
    assert limiter.acquire("k", 2.0, 3) == 0.0
    assert limiter.acquire("k", 2.0, 3) > 0
    clock.advance(seconds=100)
    assert [limiter.acquire("k", 2.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_memory_limiter_forgets_full_buckets(clock: ManualClock) -> None:
    limiter = MemoryRateLimiter(clock, max_buckets=10)
    for n in range(11):
        limiter.acquire(f"k{n}", 1.0, 5)
    clock.advance(seconds=10)
    limiter.acquire("fresh", 1.0, 5)
    assert len(limiter._buckets) <= 11


def _redis_or_skip() -> RedisRateLimiter:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError as exc:  # pragma: no cover - only without a server
        pytest.skip(f"Redis not reachable: {exc}")
    return RedisRateLimiter(REDIS_URL, ManualClock(), prefix=f"tactful:test:{uuid.uuid4().hex}:")


def test_redis_bucket_is_shared_between_limiters(clock: ManualClock) -> None:
    first = _redis_or_skip()
    first.clock = clock
    second = RedisRateLimiter(REDIS_URL, clock, prefix=first.prefix)  # another worker
    assert first.acquire("k", 1.0, 2) == 0.0
    assert second.acquire("k", 1.0, 2) == 0.0
    assert first.acquire("k", 1.0, 2) == pytest.approx(1.0)
    assert second.acquire("k", 1.0, 2) == pytest.approx(1.0)
    clock.advance(seconds=1)
    assert second.acquire("k", 1.0, 2) == 0.0
    ttl = first.client.pttl(first.prefix + "k")
    assert 0 < ttl <= 3000


def test_redis_outage_lets_requests_through(clock: ManualClock) -> None:
    pytest.importorskip("redis")
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", clock)
    assert limiter.acquire("k", 1.0, 1) == 0.0


def _limited_app(tmp_path: Path, clock: ManualClock, redis_url: str | None = None) -> tuple[TestClient, str]:
    limits = RateLimitSettings(per_second=1.0, burst=3, redis_url=redis_url)
    settings = Settings(data_dir=tmp_path / "rl", auth=AuthSettings(rate_limit=limits))
    engine = Engine(settings, clock=clock)
    secret = KeyRing(engine.store, clock).create("svc", ["serve"]).secret
    return TestClient(create_site(engine)), secret


def test_429_with_retry_after_per_key(tmp_path: Path, clock: ManualClock) -> None:
    client, secret = _limited_app(tmp_path, clock)
    codes = [client.get("/v1/popular", headers=bearer(secret)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    resp = client.get("/v1/popular", headers=bearer(secret))
    assert resp.status_code == 429 and resp.headers["retry-after"] == "1"
    assert resp.json()["error"]["code"] == "rate_limited"
    other = KeyRing(client.app.state.engine.store, clock).create("svc2", ["serve"]).secret  # type: ignore[attr-defined]
    assert client.get("/v1/popular", headers=bearer(other)).status_code == 200
    clock.advance(seconds=1)
    assert client.get("/v1/popular", headers=bearer(secret)).status_code == 200
    assert client.get("/v1/health").status_code == 200  # public routes are not limited


def test_key_with_its_own_rate(tmp_path: Path, clock: ManualClock) -> None:
    client, _ = _limited_app(tmp_path, clock)
    fast = KeyRing(client.app.state.engine.store, clock).create("bulk", ["serve"], 100.0)  # type: ignore[attr-defined]
    codes = [client.get("/v1/popular", headers=bearer(fast.secret)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]  # same burst
    clock.advance(seconds=0.03)  # 100/s refills 3 tokens in 30 ms
    assert client.get("/v1/popular", headers=bearer(fast.secret)).status_code == 200


def test_redis_backed_limit_across_two_apps(tmp_path: Path, clock: ManualClock) -> None:
    _redis_or_skip()
    client, secret = _limited_app(tmp_path, clock, REDIS_URL)
    second = TestClient(create_site(client.app.state.engine))  # type: ignore[attr-defined]
    codes = [
        c.get("/v1/popular", headers=bearer(secret)).status_code for c in (client, second, client, second)
    ]
    assert codes == [200, 200, 200, 429]
    client.app.state.gatekeeper.limiter.client.delete("tactful:rl:key:" + secret.split("_")[1])  # type: ignore[attr-defined]


def test_security_headers_on_api_pages_and_docs(client_factory) -> None:  # type: ignore[no-untyped-def]
    client = client_factory(HttpSettings())
    api = client.get("/v1/health")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]
    assert api.headers["cache-control"] == "no-store"
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    # scripts only from this server (the vendored htmx), never inline, never another host
    assert "script-src 'self';" in csp and "unsafe-inline' 'self'" not in csp and "https:" not in csp
    assert "script-src 'self' 'unsafe" not in csp
    assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    docs = client.get("/docs")  # Swagger UI comes from this server, never a CDN
    assert "https:" not in docs.headers["content-security-policy"] and "cdn" not in docs.text
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.headers["x-frame-options"] == "DENY"
    # no CORS unless configured
    pre = client.options(
        "/v1/health", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in pre.headers


def test_cors_only_for_configured_origins(client_factory) -> None:  # type: ignore[no-untyped-def]
    client = client_factory(HttpSettings(cors_origins=["https://app.example"]))
    ok = client.options(
        "/v1/popular",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example"
    assert ok.headers["x-content-type-options"] == "nosniff"
    bad = client.options(
        "/v1/popular", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in bad.headers
    simple = client.get("/v1/health", headers={"Origin": "https://app.example"})
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "retry-after" in simple.headers["access-control-expose-headers"].lower()


@pytest.fixture
def client_factory(engine: Engine):  # type: ignore[no-untyped-def]
    def make(http: HttpSettings) -> TestClient:
        engine.settings = engine.settings.model_copy(update={"http": http})
        return TestClient(create_site(engine))

    return make
