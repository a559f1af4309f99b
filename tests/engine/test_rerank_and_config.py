"""Re-ranking a caller's list, and the per-request RunConfig: validated, never a silent default."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tactful import Engine, Event, ManualClock, Settings
from tactful.config.run import RunConfig
from tactful.errors import ConfigurationError, UnknownItem, ValidationError
from tactful.web.site import create_site
from tests.conftest import media_items

ITEMS = [i.id for i in media_items()]


def _fan(engine: Engine) -> None:
    crowd = [Event(user_id=f"c{u}", item_id=i, type="like") for u in range(6) for i in ITEMS[:6]]
    engine.ingest(crowd)
    engine.ingest([Event(user_id="u", item_id=i, type="like") for i in ITEMS if i.startswith("jazz")])


# -- re-rank --------------------------------------------------------------------------------


def test_rerank_returns_only_the_candidates_ordered_with_reasons(catalog_engine: Engine) -> None:
    _fan(catalog_engine)
    candidates = [i for i in ITEMS if not i.startswith("jazz")][:6]
    out = catalog_engine.rerank("u", candidates)
    got = [i.item_id for i in out.items]
    assert set(got) <= set(candidates) and len(got) == len(candidates)
    assert all(i.reasons for i in out.items) and out.recommendation_id.startswith("r_")
    assert len(set(got)) == len(got)  # each candidate once
    # the same candidates in another order come back in the same order: ranked, not echoed
    assert [i.item_id for i in catalog_engine.rerank("u", candidates[::-1]).items] == got


def test_rerank_leaves_out_what_policy_excludes_and_says_why(catalog_engine: Engine) -> None:
    _fan(catalog_engine)
    catalog_engine.ingest([Event(user_id="u", item_id="rock-1", type="dislike")])
    out = catalog_engine.rerank("u", ["rock-1", "rock-2", "folk-1"], explain=True)
    assert "rock-1" not in [i.item_id for i in out.items]
    assert out.excluded is not None
    assert any(e.item_id == "rock-1" and e.rule == "disliked" for e in out.excluded)
    assert {e.item_id for e in out.excluded} <= {"rock-1", "rock-2", "folk-1"}


def test_rerank_refuses_unknown_ids_naming_them_and_bounds_the_list(catalog_engine: Engine) -> None:
    with pytest.raises(UnknownItem) as err:
        catalog_engine.rerank("u", ["rock-1", "ghost-1", "ghost-2"])
    assert "ghost-1" in err.value.message and "ghost-2" in err.value.message and err.value.field == "items"
    with pytest.raises(ValidationError):
        catalog_engine.rerank("u", [])
    with pytest.raises(ValidationError):
        catalog_engine.rerank("u", ["rock-1"] * 501)


def test_rerank_over_http(catalog_engine: Engine) -> None:
    _fan(catalog_engine)
    client = TestClient(create_site(catalog_engine), raise_server_exceptions=False)
    ok = client.post("/v1/users/u/rerank", json={"items": ["rock-2", "folk-1"], "explain": "full"})
    assert ok.status_code == 200 and {i["item_id"] for i in ok.json()["items"]} == {"rock-2", "folk-1"}
    bad = client.post("/v1/users/u/rerank", json={"items": ["rock-2", "nope"]})
    assert bad.status_code == 404 and "nope" in bad.json()["error"]["message"]
    assert bad.json()["error"]["field"] == "items"
    big = client.post("/v1/users/u/rerank", json={"items": ["rock-2"] * 501})
    assert big.status_code == 422
    spec = client.get("/openapi.json").json()
    assert "/v1/users/{user_id}/rerank" in spec["paths"]


# -- run config -----------------------------------------------------------------------------


def test_a_misspelt_scorer_fails_at_start_up(settings: Settings) -> None:
    blend = dict(settings.scoring.blend)
    blend["engaged"] = {**blend["engaged"], "colaborative": 0.3}
    wrong = settings.model_copy(update={"scoring": settings.scoring.model_copy(update={"blend": blend})})
    with pytest.raises(ConfigurationError) as err:
        Engine(wrong)
    assert "colaborative" in err.value.message and err.value.field == "blend.engaged.colaborative"


@pytest.mark.parametrize(
    "blend, fragment",
    [
        ({"new": {"popularity": 1.0}, "engaged": {"popularity": 1.0}}, "warming"),
        ({"new": {}, "warming": {}, "engaged": {}, "expert": {}}, "expert"),
        ({"new": {"popularity": -1.0}, "warming": {}, "engaged": {}}, "between 0 and 100"),
    ],
)
def test_settings_reject_a_blend_that_cannot_work(blend: dict, fragment: str) -> None:
    with pytest.raises(Exception) as err:
        Settings(scoring={"blend": blend})  # type: ignore[arg-type]
    assert fragment in str(err.value)


def test_overrides_are_validated_per_request(catalog_engine: Engine) -> None:
    _fan(catalog_engine)
    cases = [
        ({"blend": {"engaged": {"colaborative": 1.0}}}, "blend.engaged"),
        ({"blend": {"engaged": {"popularity": 1000.0}}}, "blend.engaged.popularity"),
        ({"policy": {"hints": {"backoff_after_ignored": 0}}}, "policy.hints.backoff_after_ignored"),
        ({"surfaces": {"home": {"exploration_share": 2.0}}}, "surfaces.home.exploration_share"),
        ({"nonsense": 1}, "nonsense"),
    ]
    for overrides, field in cases:
        with pytest.raises(ValidationError) as err:
            catalog_engine.recommend("u", config=overrides)
        assert err.value.field is not None and err.value.field.startswith(field), (overrides, err.value.field)


def test_overrides_change_this_request_only(catalog_engine: Engine, clock: ManualClock) -> None:
    _fan(catalog_engine)
    base = catalog_engine.recommend("u", n=6)
    plain = catalog_engine.recommend("u", n=6, config={"policy": {"enabled": False}})
    popular_only = {level: {"popularity": 1.0} for level in ("new", "warming", "engaged")}
    pop = catalog_engine.recommend("u", n=6, config={"blend": popular_only})
    assert [i.item_id for i in catalog_engine.recommend("u", n=6).items] == [i.item_id for i in base.items]
    assert plain.notes != base.notes or [i.item_id for i in plain.items] != [i.item_id for i in base.items]
    assert all(r.code != "because_you_liked" for i in pop.items for r in i.reasons)
    config = catalog_engine.config.with_overrides(
        {"surfaces": {"home": {"n": 3}}}, catalog_engine.pipeline.scorer_names
    )
    assert isinstance(config, RunConfig) and config.surface("home").n == 3
    assert catalog_engine.config.surface("home").n == 10  # the base is untouched
    assert len(catalog_engine.recommend("u", config=config).items) == 3
