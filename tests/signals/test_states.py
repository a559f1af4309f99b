"""A like is a state, not a counter (P3): behaviours of item states in the pure fold."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tactful.domain.event import Event
from tactful.signals.profile import DAY, Profile, ProfileRules, apply_signal
from tactful.signals.rules import SignalRules

RULES = ProfileRules(half_lives={"explicit": 100.0, "observed": 10.0}, evidence_threshold=3)
SIGNALS = SignalRules()
T0 = 1_700_000_000.0
TAGS = {"a": ["genre:jazz", "creator:x"], "b": ["genre:jazz", "mood:calm"], "c": ["genre:rock"]}


def fold(
    profile: Profile, kind: str, item: str, at: float, value: float | None = None, learn: bool = True
) -> None:
    signal = SIGNALS.interpret(Event(user_id=profile.user_id, item_id=item, type=kind, value=value))
    apply_signal(profile, signal, item, TAGS[item], at, RULES, learn=learn)


def scores(profile: Profile, now: float) -> dict[str, float]:
    out = {f"tag {t}": i.scores.value(now, RULES.half_lives) for t, i in profile.interests.items()}
    out.update({f"item {i}": s.scores.value(now, RULES.half_lives) for i, s in profile.items.items()})
    return {k: round(v, 9) for k, v in out.items() if abs(v) > 1e-9}


def test_three_likes_of_one_item_are_one_like() -> None:
    once, thrice = Profile("u"), Profile("u")
    fold(once, "like", "a", T0 + 2 * DAY)
    for day in range(3):
        fold(thrice, "like", "a", T0 + day * DAY)
    now = T0 + 5 * DAY
    assert scores(thrice, now) == scores(once, now)
    assert thrice.positive_signals == once.positive_signals == 1
    # three days of liking the same thing is one piece of evidence, not an established taste
    assert len(thrice.interests["genre:jazz"].evidence) == len(once.interests["genre:jazz"].evidence) == 1
    assert not thrice.interests["genre:jazz"].established


def test_repeated_saves_and_dislikes_count_once_but_plays_accumulate() -> None:
    p = Profile("u")
    for n in range(3):
        fold(p, "save", "a", T0 + n)
        fold(p, "dislike", "c", T0 + n)
        fold(p, "play", "b", T0 + n, value=200.0)
    now = T0 + 2
    assert round(p.items["a"].scores.value(now, RULES.half_lives), 9) == 3.0
    assert round(p.items["c"].scores.value(now, RULES.half_lives), 9) == -5.0
    assert round(p.items["b"].scores.value(now, RULES.half_lives), 4) == 3.0  # three plays


def test_a_new_rating_replaces_the_old_one() -> None:
    changed, direct = Profile("u"), Profile("u")
    fold(changed, "rate", "a", T0, value=5.0)
    fold(changed, "rate", "a", T0 + DAY, value=1.0)
    fold(direct, "rate", "a", T0 + DAY, value=1.0)
    now = T0 + 3 * DAY
    assert scores(changed, now) == scores(direct, now)
    assert changed.positive_signals == direct.positive_signals == 0


def test_a_dislike_after_a_like_takes_the_like_back_and_a_retraction_undoes_the_dislike() -> None:
    p, never = Profile("u"), Profile("u")
    fold(p, "like", "b", T0)
    fold(never, "like", "b", T0)
    fold(p, "like", "a", T0 + 1)
    fold(p, "dislike", "a", T0 + 2)
    assert p.items["a"].disliked
    assert round(p.items["a"].scores.value(T0 + 2, RULES.half_lives), 9) == -5.0
    fold(p, "retract", "a", T0 + 3)
    assert not p.items["a"].disliked
    now = T0 + DAY
    assert scores(p, now) == scores(never, now)
    assert p.positive_signals == never.positive_signals


def test_an_older_statement_arriving_late_does_not_override_a_newer_one() -> None:
    p = Profile("u")
    fold(p, "dislike", "a", T0 + DAY)
    fold(p, "like", "a", T0)  # said before the dislike, delivered after it
    assert p.items["a"].disliked
    fold(p, "retract", "a", T0 + 2 * DAY)
    fold(p, "dislike", "a", T0 + 1.5 * DAY)  # older than the retraction
    assert not p.items["a"].disliked


def test_a_retraction_that_arrives_before_the_statement_it_follows_still_holds() -> None:
    p = Profile("u")
    fold(p, "unsave", "a", T0 + DAY)
    fold(p, "save", "a", T0)  # saved, then unsaved; delivered the other way round
    assert scores(p, T0 + 2 * DAY) == {}


def test_an_undo_works_on_an_item_the_person_may_not_be_learned_from() -> None:
    p = Profile("u")
    fold(p, "dislike", "a", T0, learn=False)
    assert p.items["a"].disliked and not p.interests
    fold(p, "retract", "a", T0 + 1, learn=False)
    assert not p.items["a"].disliked


STATEMENTS = st.sampled_from(
    [("like", None), ("dislike", None), ("dismiss", None), ("rate", 5.0), ("rate", 2.0), ("retract", None)]
)


@settings(max_examples=60, deadline=None)
@given(
    said=st.lists(
        st.tuples(STATEMENTS, st.integers(0, 20)), min_size=1, max_size=8, unique_by=lambda s: s[1]
    ),
    order=st.randoms(use_true_random=False),
)
def test_the_latest_statement_holds_whatever_the_arrival_order(said, order) -> None:  # type: ignore[no-untyped-def]
    """Scores equal those of the latest statement alone, in any arrival order."""
    shuffled = list(said)
    order.shuffle(shuffled)
    p = Profile("u")
    for (kind, value), day in shuffled:
        fold(p, kind, "a", T0 + day * DAY, value)
    (kind, value), day = max(said, key=lambda s: s[1])
    latest = Profile("u")
    fold(latest, kind, "a", T0 + day * DAY, value)
    now = T0 + 30 * DAY
    assert scores(p, now) == scores(latest, now)
    assert p.items["a"].disliked == latest.items["a"].disliked


TAG_SETS = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=0, max_size=4, unique=True)


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(
        st.tuples(TAG_SETS, st.floats(-3, 3, allow_nan=False), st.integers(0, 5), st.booleans()),
        min_size=1,
        max_size=10,
    ),
    drop=st.sampled_from(["", "a", "b"]),
)
def test_a_trace_shares_parts_between_tags_yet_reads_as_one_part_per_tag(steps, drop) -> None:  # type: ignore[no-untyped-def]
    """Tags taught together share one part; whatever the mix of tag sets, take-backs and a
    forgotten tag, each tag reads exactly what a separate part per tag would hold."""
    from tactful.signals.profile import DecayedScores, Trace
    from tactful.storage.codec import json_trace, trace_json

    hl = RULES.half_lives
    trace = Trace()
    reference: dict[str, DecayedScores] = {}
    for tags, share, day, take_back in steps:
        at = T0 + day * DAY
        if take_back and tags:
            taken = DecayedScores({"explicit": [share, at]})
            trace.untaught(tags, taken, hl)
            for tag in tags:
                if tag in reference:
                    reference[tag].subtract(taken, hl)
            continue
        trace.teach(tags, share, "explicit", at, 100.0, share > 0, None, 8)
        for tag in tags:
            reference.setdefault(tag, DecayedScores()).add("explicit", share, at, 100.0)
        if drop:
            trace.tags.pop(drop, None)
            reference.pop(drop, None)
    now = T0 + 10 * DAY
    stored = json_trace(__import__("orjson").loads(trace_json(trace)))
    for view in (trace, stored):
        assert set(view.tags) == set(reference)
        for tag, scores in reference.items():
            assert abs(view.tags[tag].scores.value(now, hl) - scores.value(now, hl)) < 1e-9
