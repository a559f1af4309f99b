"""Failed authentication is throttled per client address (guessing keys or tokens)."""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient

from tactful import Engine, ManualClock, Settings
from tactful.config.security import AuthSettings, FailedAuthSettings, RateLimitSettings
from tactful.security.keys import KeyRing
from tactful.web.site import create_site
from tests.security.test_limits_headers import REDIS_URL, _redis_or_skip


def _engine(tmp_path, clock: ManualClock, **failed: object) -> Engine:  # type: ignore[no-untyped-def]
    auth = AuthSettings(
        rate_limit=RateLimitSettings(per_second=1e6, burst=1_000_000, redis_url=failed.pop("redis", None)),
        failed_auth=FailedAuthSettings(**failed),
    )
    return Engine(Settings(data_dir=tmp_path / "fa", auth=auth), clock=clock)


def _guess(client: TestClient, n: int) -> str:
    return client.get("/v1/audit", headers={"Authorization": f"Bearer tk_{n:012x}_wrong-guess"}).text


def test_300_bad_keys_get_burst_401s_then_429(tmp_path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    with _engine(tmp_path, clock, burst=20, per_minute=10) as engine:
        good = KeyRing(engine.store, engine.clock).create("ops", ["admin"]).secret
        client = TestClient(create_site(engine), raise_server_exceptions=False)
        statuses = Counter(
            client.get("/v1/audit", headers={"Authorization": f"Bearer tk_{n:012x}_guess"}).status_code
            for n in range(300)
        )
        assert statuses == {401: 20, 429: 280}
        blocked = client.get("/v1/audit", headers={"Authorization": f"Bearer {good}"})
        # even the right key is refused while the address is throttled: a guess learns nothing
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert set(blocked.json()["error"]) == {"code", "message", "field"}
        assert blocked.json()["error"]["code"] == "rate_limited"
        elsewhere = TestClient(create_site(engine), client=("10.9.8.7", 5000))
        assert elsewhere.get("/v1/audit", headers={"Authorization": f"Bearer {good}"}).status_code == 200
        clock.advance(seconds=int(blocked.headers["retry-after"]))  # the bucket refills
        assert client.get("/v1/audit", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_missing_credentials_and_good_keys_are_not_counted(tmp_path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    with _engine(tmp_path, clock, burst=3, per_minute=1) as engine:
        good = KeyRing(engine.store, engine.clock).create("ops", ["admin"]).secret
        client = TestClient(create_site(engine), raise_server_exceptions=False)
        for _ in range(50):
            assert client.get("/v1/audit").status_code == 401
            assert client.get("/v1/audit", headers={"X-API-Key": good}).status_code == 200
        assert [client.get("/v1/audit", headers={"X-API-Key": "tk_nope"}).status_code for _ in range(4)] == [
            401,
            401,
            401,
            429,
        ]


def test_can_be_turned_off(tmp_path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    with _engine(tmp_path, clock, enabled=False) as engine:
        client = TestClient(create_site(engine), raise_server_exceptions=False)
        assert {client.get("/v1/audit", headers={"X-API-Key": f"tk_{n}"}).status_code for n in range(60)} == {
            401
        }


@pytest.mark.slow
def test_workers_share_the_failure_budget_through_redis(tmp_path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    store = _redis_or_skip()
    store.client.delete("tactful:authfail:addr:testclient")
    with _engine(tmp_path, clock, burst=10, per_minute=1, redis=REDIS_URL) as engine:
        one, two = (TestClient(create_site(engine), raise_server_exceptions=False) for _ in range(2))
        for n in range(5):
            _guess(one, n)
            _guess(two, n)
        codes = [one.get("/v1/audit", headers={"X-API-Key": "tk_x"}).status_code for _ in range(2)]
        assert codes == [429, 429]  # ten failures spread over two workers used up the one budget
    store.client.delete("tactful:authfail:addr:testclient")
