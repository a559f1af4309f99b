"""Back-off counters between workers through one private Redis: heard on the change channel,
read from Redis only while a worker catches up, forgotten on erasure, bounded in memory."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tactful.ids import token_hex
from tactful.policy.hints import BackoffCounter
from tactful.services.shared import SharedState
from tests.production.test_pg_redis_servers import RedisProcess, require_redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_redis_server()
    proc = RedisProcess(Path(tmp_path_factory.mktemp("redis")))
    proc.start()
    try:
        yield proc.url
    finally:
        proc.kill()


@pytest.fixture
def pair(redis_url: str) -> Iterator[tuple[SharedState, SharedState]]:
    """Two workers' connections on a channel of this test's own."""
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    a = SharedState(redis_url, prefix=prefix, catch_up=0.3)
    b = SharedState(redis_url, prefix=prefix, catch_up=0.3)
    for s in (a, b):
        s.listen(lambda _change: None)
    wait_for(lambda: not a._catching_up() and not b._catching_up(), "both joined and caught up")
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def wait_for(check: Callable[[], Any], what: str, seconds: float = 5.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def no_gets(state: SharedState) -> None:
    """Make any Redis GET on ``state`` fail the test."""

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("asked Redis although the channel had the counter")

    state.client.get = refuse


def test_a_counter_one_worker_produced_is_heard_by_the_other_without_asking_redis(
    pair: tuple[SharedState, SharedState],
) -> None:
    a, b = pair
    no_gets(b)
    counter = BackoffCounter(7, 10.0, None, 100.0, 7)
    a.put_backoff("p1", counter, 100.0)
    assert wait_for(lambda: b.backoff("p1"), "the message") == (counter, 100.0)
    raw = a.client.get(a._key("bo", "p1"))
    assert raw is not None  # the key is there too, for workers catching up


def test_an_older_counter_arriving_late_does_not_replace_a_newer_one(
    pair: tuple[SharedState, SharedState],
) -> None:
    a, b = pair
    newer = BackoffCounter(9, 0.0, None, 200.0, 9)
    a.put_backoff("p2", newer, 200.0)
    wait_for(lambda: b.backoff("p2"), "the newer counter")
    a.put_backoff("p2", BackoffCounter(3, 0.0, None, 150.0, 3), 150.0)
    a.put_backoff("p3", BackoffCounter(1), 1.0)  # a later message: the one before was applied
    wait_for(lambda: b.backoff("p3"), "the marker")
    assert b.backoff("p2") == (newer, 200.0)


def test_a_worker_catching_up_reads_the_key_then_stops_asking(redis_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    a = SharedState(redis_url, prefix=prefix)
    counter = BackoffCounter(4, 0.0, None, 50.0, 4)
    a.put_backoff("early", counter, 50.0)  # sent before the other worker listens
    b = SharedState(redis_url, prefix=prefix, catch_up=0.5)
    try:
        assert b.backoff("early") == (counter, 50.0)  # not subscribed yet: from the key
        b.listen(lambda _change: None)
        wait_for(lambda: b._subscribed_at is not None, "the subscription")
        time.sleep(0.6)
        assert not b._catching_up()
        no_gets(b)
        assert b.backoff("early") == (counter, 50.0)  # kept from the catch-up read
        assert b.backoff("never-served") is None  # and no round trip for anyone else
    finally:
        a.close()
        b.close()


def test_erasure_makes_every_worker_forget_the_counter(pair: tuple[SharedState, SharedState]) -> None:
    a, b = pair
    a.put_backoff("gone", BackoffCounter(5, 0.0, None, 10.0, 5), 10.0)
    wait_for(lambda: b.backoff("gone"), "the counter")
    b.drop_backoff("gone")  # the erasing worker
    assert b.backoff("gone") is None
    wait_for(lambda: a.client.get(a._key("bo", "gone")) is None, "the key deleted")
    a._heard("gone", BackoffCounter(5, 0.0, None, 10.0, 5), 10.0)  # as if a had heard it
    b.drop_backoff("gone")
    wait_for(lambda: a.backoff("gone") is None, "a forgetting")


def test_counters_held_are_bounded_and_expire(redis_url: str) -> None:
    s = SharedState(redis_url, prefix=f"t{uuid.uuid4().hex[:8]}:", ttl=0.2, max_counters=3)
    try:
        s._subscribed_at = time.monotonic() - 10  # as if joined long ago: no catch-up reads
        for n in range(5):
            s._heard(f"u{n}", BackoffCounter(n), float(n))
        assert s.counters_held == 3
        assert s.backoff("u0") is None and s.backoff("u4") is not None  # the oldest went first
        time.sleep(0.25)
        assert s.backoff("u4") is None  # aged out with its key
        s._heard("u5", BackoffCounter(5), 5.0)
        s.clear_counters()
        assert s.counters_held == 0
    finally:
        s.close()


def test_tokens_are_random_hex_of_the_asked_length() -> None:
    made = {token_hex(10) for _ in range(5000)}
    assert len(made) == 5000
    assert all(len(t) == 20 and int(t, 16) >= 0 for t in made)
    assert len(token_hex(5000)) == 10_000  # longer than one refill
