"""Phases and hints as a person lives them: reloads, back-off, statements, old likes, owned items.

Each test drives the public Python API on a manual clock over the demo library, with a
trained model, so "because you liked" reasons, back-off and statements meet the real
pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tactful import Engine, Event, ManualClock, Settings
from tactful.demo.library import build_library, simulate_listeners
from tactful.domain.recommendation import Recommendations
from tactful.policy.hints import BackoffCounter, count_served
from tactful.services.planner import fade_stale_items
from tactful.signals.profile import DAY

THRESHOLD = 12


@pytest.fixture
def library_engine(settings: Settings, clock: ManualClock) -> Iterator[Engine]:
    settings.policy.hints.backoff_after_ignored = THRESHOLD
    rng = np.random.default_rng(5)
    library = build_library(rng, n_items=240, n_creators=30)
    with Engine(settings, clock=clock) as engine:
        engine.served.interval = 3600.0  # counters stay in this worker's buffer: read them there
        engine.upsert_items(library.items)
        engine.ingest(simulate_listeners(rng, library, 80, clock.now() - timedelta(days=2)))
        engine.train()
        yield engine


def _counter(engine: Engine, user: str) -> int:
    pending = engine.served.pending_backoff(user)
    return (pending or engine.policy_store.backoff(user)).ignored_slots


def _notes(recs: Recommendations) -> set[str]:
    return {n.code for n in recs.notes or []}


def _ignore_until_backed_off(engine: Engine, clock: ManualClock, user: str) -> Recommendations:
    """Visits an hour apart, each list passed over, until the person is backed off."""
    for _ in range(10):
        clock.advance(timedelta(hours=1))
        recs = engine.recommend(user, n=10)
        if "backing_off" in _notes(recs):
            return recs
    raise AssertionError("never backed off")


# -- a reload is not an impression --------------------------------------------------------------


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reloads=st.integers(1, 6), gap_seconds=st.integers(0, 29 * 60))
def test_a_reload_does_not_move_the_back_off_counter(
    library_engine: Engine, clock: ManualClock, reloads: int, gap_seconds: int
) -> None:
    user = "listener-0003"
    patient = {"policy": {"hints": {"backoff_after_ignored": 10_000}}}  # many examples, one person
    clock.advance(timedelta(days=1))  # a new visit for every example
    first = library_engine.recommend(user, n=10, config=patient)
    counted = _counter(library_engine, user)
    assert counted > 0  # the listener's list is personalized, and it counted
    for _ in range(reloads):
        clock.advance(timedelta(seconds=gap_seconds / reloads))
        again = library_engine.recommend(user, n=10, config=patient)
        assert _counter(library_engine, user) == counted
        assert again.engagement == first.engagement != "new"


def test_a_later_visit_counts_again(library_engine: Engine, clock: ManualClock) -> None:
    user = "listener-0003"
    library_engine.recommend(user, n=10)
    first = _counter(library_engine, user)
    clock.advance(timedelta(minutes=31))
    library_engine.recommend(user, n=10)
    assert _counter(library_engine, user) > first


def test_a_backed_off_response_reports_the_real_level_and_says_why(
    library_engine: Engine, clock: ManualClock
) -> None:
    user = "listener-0004"
    recs = _ignore_until_backed_off(library_engine, clock, user)
    assert recs.engagement == library_engine.person_state(user).engagement.value != "new"
    notes = _notes(recs)
    assert "backing_off" in notes and "general_content" not in notes
    assert all(r.code not in {"because_you_liked", "matches_interest"} for i in recs.items for r in i.reasons)


# -- a statement is a strong explicit signal ----------------------------------------------------


def _stated_share(recs: Recommendations, tag: str) -> int:
    return sum(1 for i in recs.items if tag in i.tags)


def _least_liked_genre(engine: Engine, user: str) -> str:
    profile = engine.profile(user)
    learned = {i.tag: i.score for i in profile.interests if i.tag.startswith("genre:")}
    genres = sorted({t for item in engine.catalog().items for t in item.tags if t.startswith("genre:")})
    return min(genres, key=lambda g: (learned.get(g, 0.0), g))


def test_stating_an_interest_ends_back_off(library_engine: Engine, clock: ManualClock) -> None:
    user = "listener-0005"
    _ignore_until_backed_off(library_engine, clock, user)
    tag = _least_liked_genre(library_engine, user)
    clock.advance(timedelta(minutes=1))
    library_engine.state_interest(user, tag)
    recs = library_engine.recommend(user, n=10)
    assert "backing_off" not in _notes(recs)
    assert _stated_share(recs, tag) >= 3
    assert any(r.code == "stated_interest" and r.tag == tag for i in recs.items for r in i.reasons)


def test_a_statement_visibly_shapes_the_very_next_response(library_engine: Engine) -> None:
    user = "listener-0006"
    tag = _least_liked_genre(library_engine, user)
    before = library_engine.recommend(user, n=10)
    library_engine.state_interest(user, tag)
    after = library_engine.recommend(user, n=10)
    assert _stated_share(after, tag) >= max(3, _stated_share(before, tag) + 2)


# -- old phases fade from item history ----------------------------------------------------------

WINDOW_DAYS = 30.0
_people = iter(range(10_000))


def _liked_at(engine: Engine, clock: ManualClock, user: str, ages: dict[str, float]) -> None:
    """``user`` likes each item ``ages[item]`` days before now (plays first, as a listener would)."""
    now = clock.now()
    events = []
    for item_id, age in ages.items():
        at = now - timedelta(days=age)
        events.append(Event(user_id=user, item_id=item_id, type="play", value=240.0, timestamp=at))
        events.append(Event(user_id=user, item_id=item_id, type="like", timestamp=at))
    engine.ingest(events)


def _cited(recs: Recommendations) -> list[tuple[str, str]]:
    return [
        (i.item_id, r.item_id or "") for i in recs.items for r in i.reasons if r.code == "because_you_liked"
    ]


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ages=st.lists(st.floats(0.0, 400.0), min_size=3, max_size=30), replay=st.booleans())
def test_after_the_window_no_reason_cites_an_old_like_or_the_item_itself(
    library_engine: Engine, clock: ManualClock, ages: list[float], replay: bool
) -> None:
    user = f"phase-{next(_people)}"
    items = [i.id for i in library_engine.catalog().items]
    rng = np.random.default_rng(len(ages))
    picked = [items[int(k)] for k in rng.choice(len(items), size=len(ages), replace=False)]
    age_of = dict(zip(picked, ages, strict=True))
    _liked_at(library_engine, clock, user, age_of)
    surface = "radio" if replay else "home"
    recs = library_engine.recommend(
        user, surface, n=20, config={"surfaces": {"radio": {"replay": True}}} if replay else None
    )
    for shown, cited in _cited(recs):
        assert cited != shown  # never explained by itself
        assert age_of[cited] <= WINDOW_DAYS  # never an item liked before the window


def test_a_phase_older_than_the_window_does_not_drive_the_list(
    library_engine: Engine, clock: ManualClock
) -> None:
    catalog = library_engine.catalog()
    by_genre: dict[str, list[str]] = {}
    for item in catalog.items:
        genre = next(t for t in item.tags if t.startswith("genre:"))
        by_genre.setdefault(genre, []).append(item.id)
    old, new = sorted(by_genre, key=lambda g: -len(by_genre[g]))[:2]
    user = "phases-400"
    _liked_at(library_engine, clock, user, {i: 400.0 + k for k, i in enumerate(by_genre[old][:20])})
    _liked_at(library_engine, clock, user, {i: 1.0 + k for k, i in enumerate(by_genre[new][:3])})
    recs = library_engine.recommend(user, n=12)
    genres = [next(t for t in i.tags if t.startswith("genre:")) for i in recs.items]
    assert genres.count(new) > genres.count(old)
    assert all(cited in by_genre[new] for _, cited in _cited(recs))


# -- what people already have -------------------------------------------------------------------


def test_a_store_feed_keeps_liked_items_out_and_a_radio_surface_may_replay_them(
    library_engine: Engine, clock: ManualClock
) -> None:
    user = "listener-0007"
    feed = library_engine.recommend(user, n=20)
    liked = {i.item_id for i in feed.items[:6]}
    library_engine.ingest([Event(user_id=user, item_id=i, type="like") for i in liked])
    after = library_engine.recommend(user, n=40)
    assert not liked & {i.item_id for i in after.items}  # home is a feed: no replay by default
    radio = {"surfaces": {"radio": {"replay": True}}}
    replayed = library_engine.recommend(user, "radio", n=40, config=radio)
    assert liked & {i.item_id for i in replayed.items}
    assert all(shown != cited for shown, cited in _cited(replayed))


# -- the pure pieces ----------------------------------------------------------------------------


@given(
    rows=st.lists(st.tuples(st.floats(-5.0, 5.0), st.floats(0.0, 400.0)), min_size=1, max_size=40),
    stale_weight=st.floats(0.0, 1.0),
)
def test_stale_item_history_fades_and_its_share_bounds_the_collaborative_part(
    rows: list[tuple[float, float]], stale_weight: float
) -> None:
    weights = np.array([w for w, _ in rows])
    now = 1_000 * DAY
    times = np.array([now - age * DAY for _, age in rows])
    faded, share = fade_stale_items(weights, times, now - WINDOW_DAYS * DAY, stale_weight)
    stale = (times < now - WINDOW_DAYS * DAY) & (weights > 0)
    assert np.array_equal(faded[~stale], weights[~stale])  # fresh and negative weights stand
    assert np.allclose(faded[stale], weights[stale] * stale_weight)
    assert stale_weight - 1e-12 <= share <= 1.0
    if not stale.any():
        assert share == 1.0
    elif not ((weights > 0) & ~stale).any():
        assert share == pytest.approx(stale_weight)  # only an old phase: it informs a little


@given(
    slots=st.lists(st.tuples(st.integers(0, 12), st.floats(0.0, 7200.0)), min_size=1, max_size=20),
)
def test_within_a_visit_only_slots_beyond_the_visit_s_most_are_counted(
    slots: list[tuple[int, float]],
) -> None:
    visit = 1800.0
    counter, now = BackoffCounter(), 0.0
    start: float | None = None
    most = 0
    expected = 0
    for personal, gap in slots:
        now += gap
        within = start is not None and now < start + visit
        if within:
            expected += max(personal - most, 0)
            most = max(most, personal)
        elif personal:
            start, most = now, personal
            expected += personal
        before = counter
        counter = count_served(counter, personal, 40, now, visit)
        assert counter.ignored_slots == expected
        if within and personal <= before.visit_slots:
            assert counter == before  # a reload (the same or a shorter list) changes nothing
