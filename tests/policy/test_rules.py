"""One unit test per policy rule, including the reason text a person reads."""

from __future__ import annotations

import numpy as np

from tactful.config.policy import DiversityMethod, SurfaceSettings
from tactful.domain.item import Item, TagMeta
from tactful.domain.person import Consent, Person
from tactful.index.catalog import CatalogIndex
from tactful.policy.decision import Action, PolicyContext
from tactful.policy.diversity import calibrate, mmr
from tactful.policy.hints import (
    BackoffCounter,
    ImpressionDiscountRule,
    backing_off,
    backoff_note,
    backoff_status,
    count_served,
)
from tactful.policy.interests import GateConfig, gate_interests, unlearnable_tags
from tactful.policy.promotions import ActivePromotion, eligible_promotions
from tactful.policy.respect import MutedRule, ProvenanceRule, SensitiveRule, SurfaceFilterRule
from tactful.policy.selection import SelectConfig, exploration_slots, select
from tactful.signals.profile import DAY, DecayedScores, ItemState, Profile, TagInterest

NOW = 1_800_000_000.0
HALF = {"explicit": 180.0, "observed": 45.0, "inferred": 21.0, "imported": 21.0}


def catalog() -> CatalogIndex:
    items = [
        Item(id=f"{g}-{k}", title=f"{g} {k}", tags=[f"genre:{g}", f"creator:{g}{k % 2}"])
        for g in ("jazz", "rock", "folk")
        for k in range(4)
    ]
    items.append(Item(id="baby-0", title="Expecting", tags=["topic:pregnancy"], sensitive=["pregnancy"]))
    items.append(Item(id="pill-0", title="Pills", tags=["topic:health"]))
    cat = CatalogIndex.build(items, [TagMeta(tag="topic:health", sensitive_category="health")])
    cat.interactions[:] = np.arange(cat.size, 0, -1)
    return cat


def ctx(cat: CatalogIndex, person: Person | None = None, profile: Profile | None = None) -> PolicyContext:
    return PolicyContext(cat, profile or Profile("u"), person or Person(id="u"), NOW, "home")


def interest(
    value: float, days: list[int], last: float | None, established: bool, prov: str = "observed"
) -> TagInterest:
    return TagInterest(
        scores=DecayedScores({prov: [value, NOW]}),
        evidence=[f"d:{d}" for d in days],
        last_positive=last,
        established=established,
    )


def test_muted_rule_denies_items_on_a_muted_topic_and_says_so() -> None:
    cat = catalog()
    out = MutedRule().apply(ctx(cat, Person(id="u", muted_topics=["genre:rock"])))
    assert out.deny is not None and out.deny.sum() == 4
    decision = out.decision(cat.index["rock-1"])
    assert decision.action is Action.deny
    assert decision.reason.code == "muted" and decision.reason.message == "you muted genre:rock"


def test_sensitive_rule_needs_an_explicit_opt_in_for_item_and_tag_categories() -> None:
    cat = catalog()
    out = SensitiveRule().apply(ctx(cat))
    assert out.deny is not None
    assert (
        out.deny[cat.index["baby-0"]] and out.deny[cat.index["pill-0"]] and not out.deny[cat.index["jazz-0"]]
    )
    reason = out.decision(cat.index["pill-0"]).reason
    assert reason.code == "sensitive"
    assert reason.message == "sensitive (health): shown only to people who opt in"
    opted = Person(id="u", consent=Consent(sensitive_opt_in=["health"]))
    again = SensitiveRule().apply(ctx(cat, opted))
    assert again.deny is not None and not again.deny[cat.index["pill-0"]] and again.deny[cat.index["baby-0"]]


def test_provenance_rule_denies_items_known_only_from_non_consented_data() -> None:
    cat = catalog()
    profile = Profile("u")
    profile.items["folk-1"] = ItemState(scores=DecayedScores({"imported": [3.0, NOW]}))
    profile.items["folk-2"] = ItemState(
        scores=DecayedScores({"imported": [3.0, NOW], "observed": [1.0, NOW]})
    )
    out = ProvenanceRule().apply(ctx(cat, profile=profile))
    assert out.deny is not None and out.deny[cat.index["folk-1"]] and not out.deny[cat.index["folk-2"]]
    reason = out.decision(cat.index["folk-1"]).reason
    assert reason.code == "not_consented"
    assert reason.message == "known to us only from imported data and you have not allowed"
    assert reason.provenance == ["imported"]


def test_surface_filter_rule_includes_and_excludes_tags() -> None:
    cat = catalog()
    rule = SurfaceFilterRule(include=["genre:jazz", "genre:rock"], exclude=["creator:rock1"])
    out = rule.apply(ctx(cat))
    assert out.deny is not None
    assert (
        not out.deny[cat.index["jazz-0"]] and out.deny[cat.index["folk-0"]] and out.deny[cat.index["rock-1"]]
    )
    assert out.decision(cat.index["rock-1"]).reason.message == "home never shows creator:rock1"
    assert out.decision(cat.index["folk-0"]).reason.message == "home shows only genre:jazz, genre:rock"


def test_impression_discount_cools_items_ignored_n_times_then_lets_them_rest() -> None:
    cat = catalog()
    profile = Profile("u")
    profile.items["jazz-1"] = ItemState(impressions=4, unengaged=4, last_impression=NOW - DAY)
    profile.items["jazz-2"] = ItemState(impressions=9, unengaged=1, last_impression=NOW - DAY)
    profile.items["jazz-3"] = ItemState(impressions=5, unengaged=5, last_impression=NOW - 20 * DAY)
    out = ImpressionDiscountRule(threshold=3, multiplier=0.25, cooldown_days=14).apply(
        ctx(cat, profile=profile)
    )
    assert out.multiplier is not None
    assert out.multiplier[cat.index["jazz-1"]] == 0.25
    assert out.multiplier[cat.index["jazz-2"]] == 1.0 and out.multiplier[cat.index["jazz-3"]] == 1.0
    reason = out.decision(cat.index["jazz-1"]).reason
    assert reason.code == "cooled_down"
    assert reason.message == "shown 4 times without a response; resting for up to 14 days"


def test_gate_uses_only_established_recent_consented_interests_and_says_why_not() -> None:
    cat = catalog()
    profile = Profile("u")
    profile.interests["genre:jazz"] = interest(3.0, [1, 2, 3], NOW - DAY, True)
    profile.interests["genre:rock"] = interest(2.0, [1, 2], NOW - DAY, False)
    profile.interests["genre:folk"] = interest(3.0, [1, 2, 3], NOW - 40 * DAY, True)
    profile.interests["creator:jazz0"] = interest(0.05, [1, 2, 3], NOW - DAY, True)
    profile.interests["creator:rock0"] = interest(3.0, [1, 2, 3], NOW - DAY, True, prov="imported")
    profile.interests["topic:health"] = interest(3.0, [1, 2, 3], NOW - DAY, True)
    profile.interests["creator:folk1"] = interest(-2.0, [], None, False)
    person = Person(id="u", stated_interests=["creator:rock1"])
    gate = gate_interests(cat, person, profile, NOW, HALF, frozenset({"explicit", "observed"}), GateConfig())
    assert set(gate.used) == {"genre:jazz", "creator:rock1"}
    assert gate.tag_vector[cat.tag_index["creator:folk1"]] < 0  # dislikes demote at once
    why = {r.tag: r for r in gate.withheld}
    assert why["genre:rock"].code == "not_established"
    assert (
        why["genre:rock"].message
        == "genre:rock: 2 of 3 independent signals so far; not used until established"
    )
    assert why["genre:folk"].code == "retarget_window"
    assert (
        why["genre:folk"].message
        == "no positive signal on genre:folk for 40 days (window 30 days); no longer used"
    )
    assert why["creator:jazz0"].code == "stale"
    assert why["creator:rock0"].code == "not_consented"
    assert "topic:health" not in why  # sensitive: withheld silently, never named in explanations


def test_muted_removed_and_sensitive_tags_are_never_learned() -> None:
    cat = catalog()
    person = Person(id="u", muted_topics=["genre:rock"], blocked_interests=["genre:folk"])
    hidden = unlearnable_tags(person, cat, "jazz-0", ["genre:jazz", "creator:jazz0"])
    assert {"genre:rock", "genre:folk", "topic:health"} <= hidden and "genre:jazz" not in hidden
    assert "topic:pregnancy" in unlearnable_tags(person, cat, "baby-0", ["topic:pregnancy"])
    opted = Person(id="u", consent=Consent(sensitive_opt_in=["pregnancy", "health"]))
    assert unlearnable_tags(opted, cat, "baby-0", ["topic:pregnancy"]) == frozenset()


def test_backoff_after_ignored_personalized_slots_until_a_new_positive_signal() -> None:
    profile = Profile("u")
    counter = BackoffCounter()
    for _ in range(4):
        counter = count_served(backoff_status(counter, profile, 30), 9, 30, NOW)
    assert backing_off(counter, 30) and counter.backoff_since == NOW
    assert backoff_note(counter, 30).message == (
        "you passed over 36 personalized suggestions, so we show general content "
        "until you show us what you like"
    )
    profile.items["jazz-1"] = ItemState(last_engaged=NOW + 10)
    assert not backing_off(backoff_status(counter, profile, 30), 30)


def test_promotions_target_established_interests_and_respect_caps() -> None:
    cat = catalog()
    promo = ActivePromotion(
        "p1",
        "folk week",
        ("jazz-0",),
        ("genre:folk",),
        frozenset({"genre:rock"}),
        frozenset(),
        2,
        7.0,
        NOW - DAY,
        None,
    )
    none = eligible_promotions([promo], cat, {"genre:jazz"}, {}, NOW, "home")
    assert none.positions == {}
    some = eligible_promotions([promo], cat, {"genre:rock"}, {"p1": [NOW - 8 * DAY, NOW - DAY]}, NOW, "home")
    assert some.remaining == {"p1": 1} and cat.index["jazz-0"] in some.positions
    assert len(some.positions) == 5
    capped = eligible_promotions(
        [promo], cat, {"genre:rock"}, {"p1": [NOW - DAY, NOW - 2 * DAY]}, NOW, "home"
    )
    assert capped.positions == {}
    assert capped.notes[0].code == "promotion_capped"
    assert capped.notes[0].message == "promotion folk week: already shown 2 times in 7 days (cap 2)"
    plain = eligible_promotions([promo], cat, set(), {"p1": [NOW] * 9}, NOW, "home", enforce=False)
    assert plain.positions


def test_selection_reserves_exploration_and_limits_promoted_placements() -> None:
    cat = catalog()
    final = np.linspace(2.0, 1.0, cat.size)
    final[cat.index["baby-0"]] = -np.inf
    promo = ActivePromotion("p1", "folk", (), ("genre:folk",), frozenset(), frozenset(), 5, 7.0, 0.0, None)
    promos = eligible_promotions([promo], cat, set(), {}, NOW, "home")
    cfg = SelectConfig(0.1, DiversityMethod.mmr, 0.75, 0.2)
    target = np.zeros(len(cat.tag_ids))
    sel = select(final, cat, 10, cfg, {"genre:jazz"}, target, set(), promos, seed=3)
    assert len(sel.positions) == 10 and len(set(sel.positions)) == 10
    assert len(sel.promoted) == 2 and exploration_slots(10, 0.1) == 1 and len(sel.explored) == 1
    explored = next(iter(sel.explored))
    assert "genre:jazz" not in cat.items[explored].tags
    assert sel.reasons[explored][0].code == "exploring"
    assert sel.reasons[explored][0].message.startswith("exploring: ")
    assert all(sel.reasons[p][0].code == "promoted" for p in sel.promoted)
    assert cat.index["baby-0"] not in sel.positions


def test_mmr_and_calibration_spread_a_list_over_tags() -> None:
    cat = catalog()
    jazz = [cat.index[f"jazz-{k}"] for k in range(4)]
    others = [cat.index["rock-0"], cat.index["folk-0"]]
    cands = np.array(jazz + others)
    scores = np.array([1.0, 0.99, 0.98, 0.97, 0.9, 0.89])
    assert set(mmr(cands, scores, cat.item_tag_norm, 3, 0.5)) & set(others)
    assert mmr(cands, scores, cat.item_tag_norm, 3, 1.0) == jazz[:3]
    target = np.zeros(len(cat.tag_ids))
    target[cat.tag_index["genre:jazz"]] = 1.0
    target[cat.tag_index["genre:rock"]] = 1.0
    picked = calibrate(cands, scores, cat.item_tag, target, 2, 0.5)
    assert cat.index["rock-0"] in picked


def test_surface_settings_refuse_to_disable_protective_rules() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError):
        SurfaceSettings(disabled_rules=["sensitive"])
    assert SurfaceSettings(disabled_rules=["impression_discount"]).exploration_share == 0.1
