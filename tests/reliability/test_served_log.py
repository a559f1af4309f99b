"""Served lists are never dropped: failed writes are retried, the buffer is bounded, a full one sheds."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from tactful import Engine
from tactful.errors import Overloaded, StorageError
from tactful.policy.hints import BackoffCounter
from tactful.services.served_log import RecommendationLog
from tactful.storage.protocol import ErasureCheck, ServedList
from tactful.web.site import create_site

FAST = {"interval": 0.01, "retry_wait": (0.001, 0.005)}


class FlakyStore:
    """``save_recommendations`` fails ``failures`` times, or until ``healthy`` is set."""

    def __init__(self, failures: int = 0, forever: bool = False) -> None:
        self.failures = failures
        self.forever = forever
        self.attempts = 0
        self.saved: list[ServedList] = []
        self.lock = threading.Lock()

    def save_recommendations(self, served: Sequence[ServedList], check: ErasureCheck | None = None) -> int:
        with self.lock:
            self.attempts += 1
            if self.forever or self.failures > 0:
                self.failures -= 1
                raise RuntimeError("database is locked")
            self.saved.extend(served)
            return len(served)


def _record(log: RecommendationLog, k: int) -> None:
    log.record(f"r{k}", f"u{k % 7}", "home", float(k), [f"i{k}", f"j{k}"])


def test_failed_writes_are_retried_and_nothing_is_lost() -> None:
    store = FlakyStore(failures=6)
    log = RecommendationLog(store, batch=7, **FAST)  # type: ignore[arg-type]
    for k in range(50):
        _record(log, k)
    log.close()
    assert [s.rec_id for s in store.saved] == [f"r{k}" for k in range(50)]  # each once, in order
    assert store.attempts > 6 and log.pending == 0


def test_the_bound_is_honoured_and_a_full_buffer_sheds_instead_of_dropping() -> None:
    store = FlakyStore(forever=True)
    log = RecommendationLog(store, max_pending=20, retry_seconds=0.05, **FAST)  # type: ignore[arg-type]
    for k in range(20):
        _record(log, k)
    with pytest.raises(Overloaded) as refused:
        _record(log, 20)
    assert refused.value.status == 503 and refused.value.retry_after > 0
    assert log.pending == 20  # the refused list was never buffered, none of the others left
    with pytest.raises(StorageError):
        log.flush()  # an explicit flush says so when the database refuses
    assert log.pending == 20
    store.forever = False  # the database recovers: everything buffered is written
    log.flush()
    assert sorted(s.rec_id for s in store.saved) == sorted(f"r{k}" for k in range(20))
    _record(log, 21)  # and serving is accepted again
    log.close()
    assert len(store.saved) == 21


def test_backoff_counters_are_kept_until_written() -> None:
    written: list[tuple[str, BackoffCounter, float]] = []
    failures = [3]

    def save_backoff(rows: Sequence[tuple[str, BackoffCounter, float]], check: ErasureCheck | None) -> int:
        if failures[0] > 0:
            failures[0] -= 1
            raise RuntimeError("database is locked")
        written.extend(rows)
        return len(rows)

    counter = BackoffCounter(ignored_slots=4, counted_since=1.0)
    log = RecommendationLog(FlakyStore(), save_backoff=save_backoff, **FAST)  # type: ignore[arg-type]
    log.record("r1", "u1", "home", 1.0, ["a"], counter)
    assert log.pending_backoff("u1") == counter  # this worker sees it until it is written
    log.close()
    assert [(user, c) for user, c, _ in written] == [("u1", counter)]
    assert log.pending_backoff("u1") is None


def test_engine_keeps_served_lists_through_write_failures(catalog_engine: Engine, monkeypatch) -> None:
    store = catalog_engine.store
    real = store.save_recommendations
    failures = [4]

    def flaky(served: Sequence[ServedList], check: ErasureCheck | None = None) -> int:
        if failures[0] > 0:
            failures[0] -= 1
            raise StorageError("database unavailable: database is locked")
        return real(served, check)

    monkeypatch.setattr(store, "save_recommendations", flaky)
    catalog_engine.served.retry_wait = (0.001, 0.005)
    ids = [catalog_engine.recommend(f"p{k}").recommendation_id for k in range(30)]
    catalog_engine.served.close()
    with store.engine.connect() as conn:
        stored = {r[0] for r in conn.exec_driver_sql("SELECT id FROM recommendations")}
    assert set(ids) <= stored and failures == [0]


def test_a_full_buffer_is_a_503_with_retry_after(catalog_engine: Engine, monkeypatch) -> None:
    def down(served: Sequence[ServedList], check: ErasureCheck | None = None) -> int:
        raise StorageError("database unavailable")

    monkeypatch.setattr(catalog_engine.store, "save_recommendations", down)
    served = catalog_engine.served
    served.max_pending, served.retry_seconds, served.retry_wait = 3, 0.02, (0.001, 0.005)
    client = TestClient(create_site(catalog_engine), raise_server_exceptions=False)
    codes = [client.get(f"/v1/users/p{k}/recommendations").status_code for k in range(3)]
    assert codes == [200, 200, 200]
    refused = client.get("/v1/users/p9/recommendations")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "error": {"code": "overloaded", "message": refused.json()["error"]["message"], "field": None}
    }
    assert served.pending == 3
    monkeypatch.undo()  # the database is back: the three lists are written, none lost
    served.close()
    assert catalog_engine.store.count("recommendations") == 3
