"""Experiments through the engine: variants as validated overrides, targeting, exclusivity,
ramps that hold when unhealthy, automatic rollback on a guardrail, the audit trail."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from tactful import Engine, ManualClock
from tactful.domain.event import Event
from tactful.errors import Conflict, ValidationError
from tactful.experiments.model import Status
from tactful.signals.profile import Engagement


def spec(exp_id: str = "e1", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": exp_id,
        "name": "policies off",
        "variants": [{"name": "control"}, {"name": "treatment", "config": {"policy": {"enabled": False}}}],
        "rollout": {"steps": [{"percent": 100}]},
    }
    body.update(extra)
    return body


def members(engine: Engine, user: str, surface: str = "home") -> dict[str, str]:
    got = engine.experiments.assign(user, surface, lambda: Engagement.new)
    return {} if got is None else {m.experiment_id: m.variant for m in got.memberships}


def test_variant_overrides_are_validated_at_creation(catalog_engine: Engine) -> None:
    bad = spec(variants=[{"name": "control"}, {"name": "t", "config": {"policy": {"enabld": False}}}])
    with pytest.raises(ValidationError) as err:
        catalog_engine.experiments.create(bad)
    assert err.value.field and err.value.field.startswith("variants.1.config")
    with pytest.raises(ValidationError):
        catalog_engine.experiments.create(spec(metrics=["nope"]))


def test_a_variant_runs_under_its_config_and_control_under_the_base(catalog_engine: Engine) -> None:
    ex = catalog_engine.experiments
    ex.create(spec())
    ex.start("e1")
    people = [f"p{k}" for k in range(60)]
    split = {u: members(catalog_engine, u)["e1"] for u in people}
    assert set(split.values()) == {"control", "treatment"}
    for u in people[:10]:
        got = ex.assign(u, "home", lambda: Engagement.new)
        assert got is not None
        assert got.config.policy.enabled is (split[u] == "control")
        assert (got.config is catalog_engine.config) is (split[u] == "control")


def test_targeting_by_surface_and_engagement(catalog_engine: Engine) -> None:
    ex = catalog_engine.experiments
    ex.create(spec(surfaces=["item_page"], engagement=["engaged"]))
    ex.start("e1")
    assert members(catalog_engine, "p1", "home") == {}
    assert members(catalog_engine, "p1", "item_page") == {}  # new, not engaged
    got = ex.assign("p1", "item_page", lambda: Engagement.engaged)
    assert got is not None and got.memberships[0].experiment_id == "e1"


def test_experiments_sharing_a_namespace_are_mutually_exclusive(catalog_engine: Engine) -> None:
    ex = catalog_engine.experiments
    ex.create(spec("a", namespace="home-ranking", traffic=50))
    ex.create(spec("b", namespace="home-ranking", traffic=50))
    with pytest.raises(Conflict):
        ex.create(spec("c", namespace="home-ranking", traffic=10))
    ex.create(spec("d"))  # its own namespace: overlaps freely
    for e in "abd":
        ex.start(e)
    seen = [members(catalog_engine, f"p{k}") for k in range(400)]
    assert not any("a" in m and "b" in m for m in seen)
    assert sum("a" in m for m in seen) > 150 and sum("b" in m for m in seen) > 150
    assert all("d" in m for m in seen)


def test_ramps_only_add_people(catalog_engine: Engine) -> None:
    ex = catalog_engine.experiments
    ex.create(spec(rollout={"steps": [{"percent": 10}, {"percent": 50}], "cadence_hours": 24}))
    ex.start("e1")
    first = {u: v for k in range(500) if (v := members(catalog_engine, u := f"p{k}").get("e1"))}
    ex.ramp("e1", 60)
    later = {u: v for k in range(500) if (v := members(catalog_engine, u := f"p{k}").get("e1"))}
    assert first.items() <= later.items() and len(later) > 2 * len(first)
    with pytest.raises(ValidationError):
        ex.ramp("e1", 20)


def _day(
    engine: Engine, clock: ManualClock, people: list[str], rng: np.random.Generator, harm: dict[str, float]
) -> None:
    for u in people:
        recs = engine.recommend(u, "home", n=5)
        variant = members(engine, u).get("e1", "control")
        events = [
            Event(user_id=u, item_id=i.item_id, type="dislike", recommendation_id=recs.recommendation_id)
            for i in recs.items
            if rng.random() < harm[variant]
        ]
        events += [
            Event(user_id=u, item_id=i.item_id, type="click", recommendation_id=recs.recommendation_id)
            for i in recs.items
            if rng.random() < 0.2
        ]
        if events:
            engine.ingest(events)
        clock.advance(seconds=20)
    engine.experiments.log.flush()


def test_a_harmful_variant_is_rolled_back_within_the_days_the_report_predicts(
    catalog_engine: Engine, clock: ManualClock
) -> None:
    ex = catalog_engine.experiments
    ex.create(
        spec(
            variants=[
                {"name": "control"},
                {"name": "treatment", "config": {"surfaces": {"home": {"exploration_share": 0.3}}}},
            ]
        )
    )
    ex.start("e1")
    people = [f"p{k}" for k in range(240)]
    rng = np.random.default_rng(17)
    predicted: float | None = None
    rolled_back_on: float | None = None
    start = clock.now()
    for day in range(1, 15):
        _day(catalog_engine, clock, people, rng, {"control": 0.03, "treatment": 0.06})
        clock.set(start + timedelta(days=day))
        report = ex.report("e1")
        dislike = next(m for m in report.metrics if m.metric == "dislike_rate")
        if predicted is None and dislike.comparisons[0].predicted_day is not None:
            predicted = dislike.comparisons[0].predicted_day
        decision = ex.evaluate("e1")
        if decision.action == "rollback":
            rolled_back_on = float(day)
            break
    assert rolled_back_on is not None, "the harmful variant was never rolled back"
    # guardrails are checked once a simulated day: the first check on or after the predicted day
    assert predicted is not None and rolled_back_on <= math.ceil(predicted), (predicted, rolled_back_on)
    assert ex.get("e1").status is Status.rolled_back
    assert members(catalog_engine, "p1") == {}  # everyone is back on the base config
    entry = catalog_engine.audit.entries(action="experiment.rollback").entries[0]
    figures = entry.details["figures"]["dislike_rate"]
    assert figures["cs"][0] > 0 and figures["rates"]["treatment"] > figures["rates"]["control"]


def test_a_sample_ratio_mismatch_or_lack_of_data_halts_the_ramp(
    catalog_engine: Engine, clock: ManualClock
) -> None:
    ex = catalog_engine.experiments
    ex.create(
        spec(
            rollout={"steps": [{"percent": 50}, {"percent": 100}], "cadence_hours": 1},
            min_people=30,
            srm_min_count=50,
        )
    )
    ex.start("e1")
    clock.advance(hours=2)
    held = ex.evaluate("e1")
    assert held.action == "hold" and "lack_of_data" in held.reasons
    assert ex.get("e1").percent == 50
    # inject a mismatch: only control people come back
    control = [u for k in range(800) if members(catalog_engine, u := f"p{k}").get("e1") == "control"]
    for u in control[:150]:
        catalog_engine.recommend(u)
    treated = [u for k in range(800) if members(catalog_engine, u := f"p{k}").get("e1") == "treatment"]
    for u in treated[:40]:
        catalog_engine.recommend(u)
    ex.log.flush()
    held = ex.evaluate("e1")
    assert held.action == "hold" and "srm" in held.reasons
    assert ex.get("e1").percent == 50
    for u in treated[40:150]:
        catalog_engine.recommend(u)
    ex.log.flush()
    moved = ex.evaluate("e1")
    assert moved.action == "advance" and ex.get("e1").percent == 100
    actions = [e.action for e in catalog_engine.audit.entries(limit=20).entries]
    assert actions.count("experiment.hold") == 2 and "experiment.advance" in actions


def test_exposures_are_logged_once_and_events_attributed_within_the_window(
    catalog_engine: Engine, clock: ManualClock
) -> None:
    ex = catalog_engine.experiments
    ex.create(spec(attribution_window_hours=1))
    ex.start("e1")
    recs = [catalog_engine.recommend("p1") for _ in range(3)]
    item = recs[0].items[0].item_id
    catalog_engine.track(
        Event(user_id="p1", item_id=item, type="click", recommendation_id=recs[0].recommendation_id)
    )
    clock.advance(hours=2)
    catalog_engine.track(
        Event(user_id="p1", item_id=item, type="click", recommendation_id=recs[1].recommendation_id)
    )
    catalog_engine.track(Event(user_id="p1", item_id=item, type="click"))  # no recommendation id
    ex.log.flush()
    report = ex.report("e1")
    ctr = next(m for m in report.metrics if m.metric == "ctr")
    arm = next(v for v in ctr.variants if v.people)
    assert report.people == 1 and arm.numerator == 1 and arm.denominator == sum(len(r.items) for r in recs)


def test_the_global_holdout_gets_general_content_and_its_lift_is_reported(
    tmp_path, clock: ManualClock
) -> None:
    from tactful import Settings
    from tactful.config.experiments import ExperimentSettings
    from tactful.config.security import AuthSettings
    from tests.conftest import media_items

    settings = Settings(
        data_dir=tmp_path / "d",
        auth=AuthSettings(enabled=False),
        experiments=ExperimentSettings(holdout=True, holdout_percent=20),
    )
    with Engine(settings, clock=clock) as engine:
        engine.upsert_items(media_items())
        engine.experiments.create(spec())
        engine.experiments.start("e1")
        people = [f"h{k}" for k in range(300)]
        held = [u for u in people if engine.experiments.in_holdout(u)]
        assert 30 < len(held) < 90  # about 20 %
        got = engine.experiments.assign(held[0], "home", lambda: Engagement.engaged)
        assert got is not None and [m.variant for m in got.memberships] == ["holdout"]  # in no experiment
        assert (
            got.config.blend["engaged"]["collaborative"] == 0 and got.config.blend["engaged"]["content"] == 0
        )
        for u in people:
            recs = engine.recommend(u)
            engine.track(
                Event(
                    user_id=u,
                    item_id=recs.items[0].item_id,
                    type="click",
                    recommendation_id=recs.recommendation_id,
                )
            )
        engine.experiments.log.flush()
        report = engine.experiments.report("holdout")
        assert [v.name for v in report.metrics[0].variants] == ["holdout", "personalized"]
        assert report.people == len(people) and report.srm.observed[0] == len(held)
        assert report.metrics[0].comparisons[0].lift is not None


def test_by_default_the_holdout_is_kept_while_an_experiment_runs(tmp_path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    """``auto``: nobody is held out in an installation that runs no experiments; once one runs,
    the default 5 % is, and they are back when it stops."""
    from tactful import Settings
    from tactful.config.security import AuthSettings
    from tests.conftest import media_items

    settings = Settings(data_dir=tmp_path / "d", auth=AuthSettings(enabled=False))
    assert settings.experiments.holdout == "auto" and settings.experiments.holdout_percent == 5
    people = [f"a{k}" for k in range(2000)]
    with Engine(settings, clock=clock) as engine:
        engine.upsert_items(media_items())
        ex = engine.experiments
        assert not [u for u in people if ex.in_holdout(u)]
        assert ex.assign(people[0], "home", lambda: Engagement.engaged) is None
        ex.create(spec())
        ex.start("e1")
        held = [u for u in people if ex.in_holdout(u)]
        assert 60 < len(held) < 140  # about 5 %
        got = ex.assign(held[0], "home", lambda: Engagement.engaged)
        assert got is not None and [m.variant for m in got.memberships] == ["holdout"]
        ex.stop("e1")
        ex.settings.refresh_seconds = 0.0
        assert not [u for u in people[:200] if ex.in_holdout(u)]


def test_two_creations_racing_for_one_namespace_keep_it_exclusive(catalog_engine: Engine) -> None:
    """Two workers allocate the same slot at once: the later one withdraws."""
    from tactful.experiments.model import Experiment, ExperimentSpec

    ex = catalog_engine.experiments
    now = catalog_engine.clock.now()
    rival = Experiment(
        spec=ExperimentSpec.model_validate(spec("a-rival", namespace="ns", traffic=60)),
        slot=(0, 6000),
        created_at=now,
        updated_at=now,
    )
    catalog_engine.store.insert_experiment(rival)  # by another worker, after this one allocated
    real_list = catalog_engine.store.list_experiments
    calls = {"n": 0}

    def blind_once(namespace: str | None = None) -> list[Experiment]:
        calls["n"] += 1  # the allocation read happened before the rival's insert
        return [e for e in real_list(namespace) if calls["n"] > 1 or e.id != "a-rival"]

    catalog_engine.store.list_experiments = blind_once  # type: ignore[method-assign]
    try:
        with pytest.raises(Conflict):
            ex.create(spec("b-late", namespace="ns", traffic=60))
    finally:
        catalog_engine.store.list_experiments = real_list  # type: ignore[method-assign]
    assert ex.get("b-late").status is Status.stopped
    assert ex.get("a-rival").status is Status.draft
