from __future__ import annotations

from tactful.domain.event import Provenance
from tactful.signals.profile import DAY, Engagement, Profile, ProfileRules, apply_signal, decay
from tactful.signals.rules import Signal

RULES = ProfileRules(half_lives={"explicit": 100.0, "observed": 10.0}, evidence_threshold=3)
T0 = 1_700_000_000.0


def like(weight: float = 4.0, prov: Provenance = Provenance.explicit) -> Signal:
    return Signal(weight=weight, provenance=prov)


def test_decay_halves_per_half_life() -> None:
    assert decay(8.0, T0, T0 + 10 * DAY, 10.0) == 4.0
    assert decay(8.0, T0, T0 - 5, 10.0) == 8.0


def test_explicit_decays_slower_than_observed() -> None:
    p = Profile("u")
    apply_signal(p, like(1.0, Provenance.explicit), "a", ["genre:jazz"], T0, RULES)
    apply_signal(p, like(1.0, Provenance.observed), "b", ["genre:rock"], T0, RULES)
    later = T0 + 30 * DAY
    jazz = p.interests["genre:jazz"].scores.value(later, RULES.half_lives)
    rock = p.interests["genre:rock"].scores.value(later, RULES.half_lives)
    assert jazz > 0.8 > 0.2 > rock


def test_out_of_order_signals_give_the_same_score() -> None:
    a, b = Profile("a"), Profile("b")
    times = [T0, T0 + 3 * DAY, T0 + DAY]
    for t in times:
        apply_signal(a, like(), "x", ["t:x"], t, RULES)
    for t in sorted(times):
        apply_signal(b, like(), "x", ["t:x"], t, RULES)
    now = T0 + 9 * DAY
    va = a.interests["t:x"].scores.value(now, RULES.half_lives)
    vb = b.interests["t:x"].scores.value(now, RULES.half_lives)
    assert abs(va - vb) < 1e-9


def test_interest_established_only_after_distinct_days() -> None:
    p = Profile("u")
    for minute in range(5):  # five signals on one day are one piece of evidence
        apply_signal(p, like(), f"i{minute}", ["genre:jazz"], T0 + 60 * minute, RULES)
    assert not p.interests["genre:jazz"].established
    apply_signal(p, like(), "i9", ["genre:jazz"], T0 + DAY, RULES)
    assert not p.interests["genre:jazz"].established
    apply_signal(p, like(), "i10", ["genre:jazz"], T0 + 2 * DAY, RULES)
    assert p.interests["genre:jazz"].established
    assert len(p.interests["genre:jazz"].evidence) == 3


def test_sessions_count_as_distinct_evidence() -> None:
    p = Profile("u")
    for s in range(3):
        apply_signal(p, like(), "i", ["genre:jazz"], T0 + s, RULES, session=f"s{s}")
    assert p.interests["genre:jazz"].established


def test_negative_signals_are_not_evidence_and_mark_hard_negatives() -> None:
    p = Profile("u")
    apply_signal(
        p,
        Signal(weight=-5, provenance=Provenance.explicit, hard_negative=True),
        "bad",
        ["genre:x"],
        T0,
        RULES,
    )
    assert p.hard_negatives() == {"bad"}
    assert p.interests["genre:x"].evidence == []
    assert p.interests["genre:x"].scores.value(T0, RULES.half_lives) < 0
    assert p.positive_signals == 0


def test_muted_tags_are_never_learned() -> None:
    p = Profile("u")
    apply_signal(
        p, like(), "i", ["topic:wedding", "genre:pop"], T0, RULES, muted=frozenset({"topic:wedding"})
    )
    assert "topic:wedding" not in p.interests and "genre:pop" in p.interests


def test_engagement_ramps() -> None:
    p = Profile("u")
    assert p.engagement(3, 10, 2) is Engagement.new
    for k in range(4):
        apply_signal(p, like(), f"i{k}", [], T0 + k, RULES)
    assert p.engagement(3, 10, 2) is Engagement.warming
    for k in range(10):
        apply_signal(p, like(), f"j{k}", [], T0 + k * DAY, RULES)
    assert p.engagement(3, 10, 2) is Engagement.engaged


def test_impressions_counted_without_preference() -> None:
    p = Profile("u")
    apply_signal(
        p, Signal(weight=0.0, provenance=Provenance.observed, impression=True), "i", ["g:x"], T0, RULES
    )
    assert p.items["i"].impressions == 1
    assert "g:x" not in p.interests and p.positive_signals == 0
