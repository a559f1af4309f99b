from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tactful import Engine
from tactful.storage import SqlStore
from tactful.web.site import create_site
from tests.conftest import media_items


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_site(engine), raise_server_exceptions=False)


@pytest.fixture
def loaded(client: TestClient) -> TestClient:
    items = [i.model_dump(mode="json") for i in media_items()]
    assert client.post("/v1/items", json={"items": items}).json() == {"count": len(items)}
    crowd = [
        {"user_id": f"c{u}", "item_id": f"rock-{k}", "type": "click"} for u in range(10) for k in range(8)
    ]
    assert client.post("/v1/events/batch", json={"events": crowd}).status_code == 200
    return client


def test_health_and_openapi(client: TestClient) -> None:
    health = client.get("/v1/health").json()
    assert health["status"] == "ok" and health["schema_version"] == SqlStore.head_revision()
    spec = client.get("/openapi.json").json()
    assert "/v1/users/{user_id}/recommendations" in spec["paths"]
    assert "/v1/events/batch" in spec["paths"]


def test_items_crud(loaded: TestClient) -> None:
    assert loaded.get("/v1/items/jazz-1").json()["tags"][0] == "genre:jazz"
    assert loaded.delete("/v1/items/jazz-1").json() == {"count": 1}
    gone = loaded.get("/v1/items/jazz-1")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert loaded.post("/v1/items/delete", json={"ids": ["jazz-2", "jazz-3"]}).json() == {"count": 2}


def test_recommendation_feedback_loop(loaded: TestClient) -> None:
    recs = loaded.get("/v1/users/ann/recommendations", params={"n": 5, "surface": "home"}).json()
    assert len(recs["items"]) == 5 and recs["recommendation_id"].startswith("r_")
    assert all(item["reasons"] for item in recs["items"])
    top = recs["items"][0]["item_id"]
    event = {
        "user_id": "ann",
        "item_id": top,
        "type": "dislike",
        "recommendation_id": recs["recommendation_id"],
    }
    assert loaded.post("/v1/events", json=event).json() == {"accepted": 1, "duplicates": 0}
    after = loaded.get("/v1/users/ann/recommendations", params={"n": 24, "explain": "full"}).json()
    assert top not in [i["item_id"] for i in after["items"]]
    assert any(x["item_id"] == top and x["reason"]["code"] == "disliked" for x in after["excluded"])
    profile = loaded.get("/v1/users/ann/profile").json()
    assert profile["disliked_items"] == [top]
    assert any(i["tag"] == "genre:rock" and i["score"] < 0 for i in profile["interests"])


def test_similar_popular_person(loaded: TestClient) -> None:
    assert (
        loaded.get("/v1/items/jazz-0/similar", params={"n": 2})
        .json()["items"][0]["item_id"]
        .startswith("jazz")
    )
    assert loaded.get("/v1/popular", params={"kind": "trending", "n": 2}).status_code == 200
    person = {"id": "ann", "timezone": "Europe/Paris"}
    assert loaded.put("/v1/users/ann", json=person).json()["timezone"] == "Europe/Paris"
    assert loaded.get("/v1/users/ann").json()["timezone"] == "Europe/Paris"


BAD_EVENTS = [
    ({"user_id": "u", "item_id": "nope", "type": "like"}, "event.item_id", "unknown_item"),
    ({"user_id": "u", "item_id": "jazz-1", "type": "teleport"}, "event.type", "unknown_event_type"),
    (
        {"user_id": "u", "item_id": "jazz-1", "type": "like", "timestamp": "31/02/2026"},
        "timestamp",
        "invalid",
    ),
    ({"user_id": "u", "item_id": "jazz-1", "type": "like", "value": "lots"}, "value", "invalid"),
    ({"user_id": "u" * 500, "item_id": "jazz-1", "type": "like"}, "user_id", "invalid"),
    ({"user_id": "u\x00", "item_id": "jazz-1", "type": "like"}, "user_id", "invalid"),
    ({"user_id": "u", "item_id": "jazz-1", "type": "like", "extra": 1}, "extra", "invalid"),
    (
        {"user_id": "u", "item_id": "jazz-1", "type": "like", "context": {"query": "q" * 5000}},
        "context.query",
        "invalid",
    ),
]


@pytest.mark.parametrize(("body", "field", "code"), BAD_EVENTS)
def test_bad_events_get_4xx_naming_the_field_and_change_nothing(
    loaded: TestClient, body, field, code
) -> None:
    before = loaded.app.state.engine.store.count("events")
    resp = loaded.post("/v1/events", json=body)
    assert resp.status_code == (404 if code == "unknown_item" else 422)  # an unknown item is not found
    err = resp.json()["error"]
    assert err["field"] == field and err["code"] == code and err["message"]
    assert loaded.app.state.engine.store.count("events") == before


def test_batch_with_one_bad_event_is_rejected_whole(loaded: TestClient) -> None:
    store = loaded.app.state.engine.store
    before = store.count("events")
    events = [{"user_id": "b", "item_id": "jazz-1", "type": "like"}] * 5 + [
        {"user_id": "b", "item_id": "zzz", "type": "like"}
    ]
    resp = loaded.post("/v1/events/batch", json={"events": events})
    assert resp.status_code == 404 and resp.json()["error"]["field"] == "events[5].item_id"
    assert store.count("events") == before


def test_oversized_and_malformed(loaded: TestClient) -> None:
    big = [{"user_id": "b", "item_id": "jazz-1", "type": "view"}] * 10_001
    resp = loaded.post("/v1/events/batch", json={"events": big})
    assert resp.status_code == 413 and resp.json()["error"]["field"] == "events"
    ok = loaded.post("/v1/events/batch", json={"events": big[:10_000]})
    assert ok.status_code == 200 and ok.json()["accepted"] == 10_000
    bad = loaded.post("/v1/events", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "malformed_json"
    assert (
        loaded.post("/v1/items", json={"items": [{"id": "x", "tags": ["Not A Tag"]}]}).json()["error"][
            "field"
        ]
        == "items[0].tags[0]"
    )
    assert loaded.get("/v1/users/u/recommendations", params={"n": 10_000}).status_code == 422
    assert loaded.get("/v1/users/u/recommendations", params={"surface": "Bad Surface"}).status_code == 422
    huge = loaded.post(
        "/v1/events", content=b"x", headers={"content-type": "application/json", "content-length": str(10**9)}
    )
    assert huge.status_code == 413


def test_wrong_types_everywhere_are_4xx(loaded: TestClient) -> None:
    for body in (None, [], "text", 5, {"events": "no"}, {"events": [1, 2]}, {"events": []}):
        resp = loaded.post(
            "/v1/events/batch", content=json.dumps(body), headers={"content-type": "application/json"}
        )
        assert 400 <= resp.status_code < 500, body
        assert set(resp.json()["error"]) == {"code", "message", "field"}


BATCH_BODIES = [
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "like"}]}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "like", "timestamp": 1700000000}]}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "rate", "value": "4"}]}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "rate", "value": NaN}]}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "like", "extra": 1}]}',
    b'{"events": [{"user_id": "", "item_id": "jazz-1", "type": "like"}]}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "Not A Type"}]}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "like", "timestamp": "2999-01-01"}]}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "like", "timestamp": "1960-01-01"}]}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "like", "provenance": "made-up"}]}',
    b'{"events": [{"user_id": "b\\ud800", "item_id": "jazz-1", "type": "like"}]}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "like"}], "events": 3}',
    b'{"events": [{"user_id": "b", "item_id": "jazz-1", "type": "like"}',
    b'{"events": {"user_id": "b"}}',
]


@pytest.mark.parametrize("body", BATCH_BODIES)
def test_a_batch_is_validated_from_its_bytes_with_the_answers_of_the_usual_path(
    loaded: TestClient, monkeypatch: pytest.MonkeyPatch, body: bytes
) -> None:
    """The batch route validates its body from the raw bytes (one pass); whatever it is sent,
    valid or not, the answer is the one the usual decode-then-validate path gives."""
    from pydantic import ValidationError

    from tactful.domain.event import EventBatch

    headers = {"content-type": "application/json"}
    fast: list[int] = []
    original = EventBatch.model_validate_json

    def counted(data: bytes, **kwargs: object) -> EventBatch:
        fast.append(len(data))
        return original(data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(EventBatch, "model_validate_json", counted)
    store = loaded.app.state.engine.store
    before = store.count("events")
    first = loaded.post("/v1/events/batch", content=body, headers=headers)
    assert fast == [len(body)]  # the bytes were validated directly
    stored = store.count("events") - before

    def refuse(data: bytes, **kwargs: object) -> EventBatch:
        raise ValidationError.from_exception_data("EventBatch", [])

    monkeypatch.setattr(EventBatch, "model_validate_json", refuse)  # only the usual path remains
    usual = loaded.post("/v1/events/batch", content=body, headers=headers)
    assert (first.status_code, first.json()) == (usual.status_code, usual.json())
    assert store.count("events") - before == 2 * stored  # each stored the same, or nothing
