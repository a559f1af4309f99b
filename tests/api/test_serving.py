"""Serving: engine calls on sized pools, a bounded queue that sheds with 503, a lifespan that closes."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fastapi.testclient import TestClient

from tactful import Engine
from tactful.api.lanes import Lane
from tactful.errors import Overloaded
from tactful.web.site import create_site


def test_a_lane_admits_threads_plus_queue_and_sheds_the_rest() -> None:
    lane = Lane("read", threads=1, queue=1, retry_after=2.0)
    gate = threading.Event()

    async def scenario() -> None:
        running = asyncio.ensure_future(lane.run(gate.wait, 10))
        waiting = asyncio.ensure_future(lane.run(lambda: "second"))
        await asyncio.sleep(0.05)
        assert lane.admitted == 2
        with pytest.raises(Overloaded) as refused:
            await lane.run(lambda: "third")
        assert refused.value.retry_after == 2.0 and lane.shed == 1
        waiting.cancel()  # a caller that gives up before its call started frees its slot
        await asyncio.sleep(0.01)
        assert lane.admitted == 1
        gate.set()
        assert await running is True
        assert await lane.run(lambda: "again") == "again"

    asyncio.run(scenario())
    assert lane.admitted == 0
    lane.shutdown()


def test_a_full_queue_is_a_structured_503_with_retry_after(catalog_engine: Engine) -> None:
    app = create_site(catalog_engine)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/v1/users/u1/recommendations").status_code == 200
    app.state.lanes.read.limit = 0  # as if every thread were busy and the queue full
    resp = client.get("/v1/users/u1/recommendations")
    assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
    body = resp.json()["error"]
    assert body["code"] == "overloaded" and body["field"] is None and "retry" in body["message"]
    # writes have their own pool: a busy read pool does not block events
    event = {"user_id": "u1", "item_id": "jazz-1", "type": "like"}
    assert client.post("/v1/events", json=event).status_code == 200


def test_lifespan_closes_the_engine_and_writes_buffered_lists(catalog_engine: Engine) -> None:
    stopped: list[str] = []
    app = create_site(catalog_engine, on_shutdown=[lambda: stopped.append("retrainer")])
    catalog_engine.served.interval = 3600.0  # nothing would be written before the shutdown
    with TestClient(app) as client:
        ids = {client.get(f"/v1/users/p{k}/recommendations").json()["recommendation_id"] for k in range(5)}
    assert stopped == ["retrainer"]
    with catalog_engine.store.engine.connect() as conn:
        stored = {r[0] for r in conn.exec_driver_sql("SELECT id FROM recommendations")}
    assert ids <= stored
