from __future__ import annotations

import pytest

from tactful import Event, Provenance
from tactful.errors import UnknownEventType
from tactful.signals.rules import EventRule, SignalRules, ValueMode


def sig(rules: SignalRules, type_: str, value: float | None = None, provenance: Provenance | None = None):
    return rules.interpret(Event(user_id="u", item_id="i", type=type_, value=value, provenance=provenance))


def test_defaults_follow_spec() -> None:
    rules = SignalRules()
    like, save, dislike, dismiss = (sig(rules, t) for t in ("like", "save", "dislike", "dismiss"))
    assert like.weight >= 3 and save.weight >= 3
    assert like.provenance is Provenance.explicit
    assert dislike.hard_negative and dismiss.hard_negative and dislike.weight < 0
    assert sig(rules, "view").provenance is Provenance.observed
    assert 0 < sig(rules, "view").weight < like.weight


def test_short_play_is_a_mild_negative_skip() -> None:
    rules = SignalRules()
    short, long = sig(rules, "play", 12), sig(rules, "play", 240)
    assert -1 < short.weight < 0
    assert long.weight > 0
    assert sig(rules, "play", 30).weight > 0  # the boundary counts as a play


def test_rating_maps_around_three() -> None:
    rules = SignalRules()
    assert sig(rules, "rate", 3.0).weight == 0
    assert sig(rules, "rate", 5.0).weight > 0 > sig(rules, "rate", 1.0).weight
    assert sig(rules, "rate", 4.0).consumed


def test_purchase_consumes_and_impression_is_not_a_preference() -> None:
    rules = SignalRules()
    assert sig(rules, "purchase").consumed
    imp = sig(rules, "impression")
    assert imp.impression and imp.weight == 0


def test_counts_are_log_scaled_and_provenance_can_be_overridden() -> None:
    rules = SignalRules()
    assert sig(rules, "listen", 100).weight > sig(rules, "listen", 3).weight > 0
    assert sig(rules, "like", provenance=Provenance.imported).provenance is Provenance.imported


def test_operators_can_add_types_and_override_thresholds() -> None:
    rules = SignalRules({"wishlist": EventRule(weight=2.5)}, short_play_seconds=10)
    assert sig(rules, "wishlist").weight == 2.5
    assert sig(rules, "play", 12).weight > 0
    custom = SignalRules({"stars": EventRule(weight=1.0, mode=ValueMode.rating, center=5)})
    assert sig(custom, "stars", 10).weight == 5


def test_unknown_type_is_rejected_naming_the_field() -> None:
    with pytest.raises(UnknownEventType) as err:
        sig(SignalRules(), "teleport")
    assert err.value.field == "type"
