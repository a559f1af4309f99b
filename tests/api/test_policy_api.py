"""Profile control and promotions over HTTP: immediate effect, structured 4xx, nothing changed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tactful import Engine
from tactful.web.site import create_site
from tests.conftest import media_items


@pytest.fixture
def api(engine: Engine) -> TestClient:
    client = TestClient(create_site(engine), raise_server_exceptions=False)
    items = [i.model_dump(mode="json") for i in media_items()]
    items.append({"id": "baby-0", "tags": ["topic:pregnancy"], "sensitive": ["pregnancy"]})
    assert client.post("/v1/items", json={"items": items}).status_code == 200
    client.post("/v1/tags", json={"tags": [{"tag": "topic:pregnancy", "sensitive_category": "pregnancy"}]})
    crowd = [
        {"user_id": f"c{u}", "item_id": f"folk-{k}", "type": "click"} for u in range(5) for k in range(8)
    ]
    assert client.post("/v1/events/batch", json={"events": crowd}).status_code == 200
    return client


def ids(client: TestClient, user: str) -> list[str]:
    return [i["item_id"] for i in client.get(f"/v1/users/{user}/recommendations?n=30").json()["items"]]


def test_mute_hides_a_topic_at_once_and_deletes_its_interest(api: TestClient) -> None:
    events = [{"user_id": "ann", "item_id": f"folk-{k}", "type": "like"} for k in range(3)]
    api.post("/v1/events/batch", json={"events": events})
    assert any(i.startswith("folk") for i in ids(api, "ann"))
    body = api.post("/v1/users/ann/mutes/genre:folk").json()
    assert body["muted_topics"] == ["genre:folk"]
    assert "genre:folk" not in {i["tag"] for i in body["interests"]}
    assert not any(i.startswith("folk") for i in ids(api, "ann"))
    api.post("/v1/events", json={"user_id": "ann", "item_id": "folk-5", "type": "like"})
    assert "genre:folk" not in {i["tag"] for i in api.get("/v1/users/ann/profile").json()["interests"]}
    assert api.delete("/v1/users/ann/mutes/genre:folk").json()["muted_topics"] == []
    assert any(i.startswith("folk") for i in ids(api, "ann"))


def test_state_and_remove_interests(api: TestClient) -> None:
    body = api.post("/v1/users/bob/interests/genre:jazz").json()
    assert body["stated_interests"] == ["genre:jazz"]
    recs = api.get("/v1/users/bob/recommendations?n=12").json()["items"]
    assert any(r["code"] == "stated_interest" for i in recs for r in i["reasons"])
    gone = api.delete("/v1/users/bob/interests/genre:jazz").json()
    assert gone["stated_interests"] == [] and gone["removed_interests"] == ["genre:jazz"]
    api.post("/v1/events", json={"user_id": "bob", "item_id": "jazz-1", "type": "like"})
    assert "genre:jazz" not in {i["tag"] for i in api.get("/v1/users/bob/profile").json()["interests"]}


def test_sensitive_needs_opt_in_through_consent(api: TestClient) -> None:
    refused = api.post("/v1/users/cy/interests/topic:pregnancy")  # well-formed; consent says not yet
    assert refused.status_code == 409 and refused.json()["error"]["field"] == "tag"
    assert api.get("/v1/users/cy/profile").json()["stated_interests"] == []
    assert "baby-0" not in ids(api, "cy")
    consent = {
        "personalization": True,
        "provenances": ["explicit", "observed"],
        "sensitive_opt_in": ["pregnancy"],
    }
    assert api.put("/v1/users/cy/consent", json=consent).json()["consent"]["sensitive_opt_in"] == [
        "pregnancy"
    ]
    assert api.post("/v1/users/cy/interests/topic:pregnancy").status_code == 200
    assert "baby-0" in ids(api, "cy")
    consent["sensitive_opt_in"] = []
    after = api.put("/v1/users/cy/consent", json=consent).json()
    assert after["stated_interests"] == [] and "baby-0" not in ids(api, "cy")


def test_bad_input_is_a_structured_4xx_and_changes_nothing(api: TestClient) -> None:
    bad = api.post("/v1/users/dee/mutes/NotATag")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"
    bad = api.put("/v1/users/dee/consent", json={"provenances": ["telepathy"]})
    assert bad.status_code == 422 and bad.json()["error"]["field"]
    assert api.get("/v1/users/dee/profile").json()["muted_topics"] == []


def test_promotion_crud_and_caps(api: TestClient) -> None:
    made = api.post(
        "/v1/promotions", json={"id": "rock-week", "name": "rock week", "tags": ["genre:rock"], "cap": 1}
    )
    assert made.status_code == 201 and made.json()["status"] == "active"
    assert api.post("/v1/promotions", json={"id": "rock-week", "tags": ["genre:rock"]}).status_code == 409
    assert api.post("/v1/promotions", json={"name": "empty"}).status_code == 422
    assert api.post("/v1/promotions", json={"items": ["nope"]}).json()["error"]["code"] == "unknown_item"
    first = api.get("/v1/users/eve/recommendations?n=10").json()["items"]
    promoted = [i for i in first if any(r["code"] == "promoted" for r in i["reasons"])]
    assert len(promoted) == 1 and promoted[0]["item_id"].startswith("rock")
    again = api.get("/v1/users/eve/recommendations?n=10").json()["items"]
    assert not any(r["code"] == "promoted" for i in again for r in i["reasons"])
    full = api.get("/v1/users/eve/recommendations?n=10&explain=full").json()
    assert any(n["code"] == "promotion_capped" for n in full["notes"])
    assert api.patch("/v1/promotions/rock-week", json={"cap": 3}).json()["cap"] == 3
    # a null start means "now" (as on creation), never a stored null (it was a 500)
    restarted = api.patch("/v1/promotions/rock-week", json={"starts_at": None})
    assert restarted.status_code == 200 and restarted.json()["starts_at"] is not None
    # a valid change that would leave this promotion with nothing to promote: a conflict
    assert api.patch("/v1/promotions/rock-week", json={"tags": []}).status_code == 409
    assert api.delete("/v1/promotions/rock-week").json()["status"] == "ended"
    assert api.get("/v1/promotions?include_ended=false").json() == {"promotions": []}
    assert api.patch("/v1/promotions/rock-week", json={"cap": 2}).status_code == 409
    assert api.get("/v1/promotions/missing").status_code == 404


def test_similar_items_for_a_person_respect_mutes_and_sensitivity(api: TestClient) -> None:
    api.post("/v1/users/fay/mutes/creator:jazz-artist-1")
    similar = api.get("/v1/items/jazz-0/similar?n=30&user_id=fay").json()["items"]
    got = {i["item_id"] for i in similar}
    assert "jazz-1" not in got and "jazz-4" not in got and "baby-0" not in got
    assert "jazz-2" in got


def profile_of(client: TestClient, user: str) -> dict:
    body: dict = client.get(f"/v1/users/{user}/profile").json()
    return body


def test_put_person_refuses_a_sensitive_stated_interest_without_opt_in(api: TestClient) -> None:
    refused = api.put("/v1/users/dee", json={"id": "dee", "stated_interests": ["topic:pregnancy"]})
    assert refused.status_code == 409 and refused.json()["error"]["field"] == "tag"
    assert api.get("/v1/users/dee").json()["stated_interests"] == []
    body = {
        "id": "dee",
        "consent": {"sensitive_opt_in": ["pregnancy"]},
        "stated_interests": ["topic:pregnancy"],
    }
    assert api.put("/v1/users/dee", json=body).status_code == 200  # the opt-in in the same body counts
    assert "baby-0" in ids(api, "dee")


def test_a_mute_through_put_forgets_and_does_not_come_back_on_unmute(api: TestClient) -> None:
    events = [{"user_id": "eve", "item_id": f"folk-{k}", "type": "like"} for k in range(3)]
    api.post("/v1/events/batch", json={"events": events})
    assert "genre:folk" in {i["tag"] for i in profile_of(api, "eve")["interests"]}
    assert api.put("/v1/users/eve", json={"id": "eve", "muted_topics": ["genre:folk"]}).status_code == 200
    assert "genre:folk" not in {i["tag"] for i in profile_of(api, "eve")["interests"]}
    assert api.put("/v1/users/eve", json={"id": "eve", "muted_topics": []}).json()["muted_topics"] == []
    after = profile_of(api, "eve")
    assert after["interests"] == [] and after["positive_signals"] == 0  # learned through folk: gone


def test_an_opt_out_through_put_forgets_learned_sensitive_interests(api: TestClient) -> None:
    api.put("/v1/users/fay/consent", json={"sensitive_opt_in": ["pregnancy"]})
    api.post("/v1/events", json={"user_id": "fay", "item_id": "baby-0", "type": "like"})
    assert "topic:pregnancy" in {i["tag"] for i in profile_of(api, "fay")["interests"]}
    put = api.put("/v1/users/fay", json={"id": "fay", "consent": {"sensitive_opt_in": []}})
    assert put.status_code == 200 and put.json()["consent"]["sensitive_opt_in"] == []
    profile = profile_of(api, "fay")
    assert profile["interests"] == [] and profile["consumed_items"] == []


def test_a_put_of_just_the_id_changes_nothing(api: TestClient) -> None:
    api.put("/v1/users/gus/consent", json={"personalization": False, "sensitive_opt_in": ["pregnancy"]})
    api.post("/v1/users/gus/mutes/genre:rock")
    before = api.get("/v1/users/gus").json()
    assert api.put("/v1/users/gus", json={"id": "gus"}).json() == before
    assert api.put("/v1/users/gus", json={"id": "gus", "timezone": "Europe/Paris"}).json() == {
        **before,
        "timezone": "Europe/Paris",
    }
    clash = api.put(
        "/v1/users/gus",
        json={"id": "gus", "stated_interests": ["genre:rock"], "muted_topics": ["genre:rock"]},
    )
    assert clash.status_code == 422 and api.get("/v1/users/gus").json()["timezone"] == "Europe/Paris"
