"""Opting out and muting forget everything learned through them (P8), whatever the story.

The behaviour: after an opt-out (or a mute), the person's lists and profile equal those of
a twin who never had that phase. The twin lives in a second engine with the same catalog
and clock; the phase's events there are made by a stranger, so the shared item counters
(popularity, trending) are the same in both worlds and only the person differs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful import Engine, Event, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.domain.event import EventContext
from tactful.domain.item import Item, TagMeta
from tactful.domain.person import Consent, Person
from tests.conftest import media_items

ME, STRANGER = "me", "stranger"


def catalog() -> list[Item]:
    """Media items, guides sharing ``format:guide`` and genres, and health guides (sensitive)."""
    items = list(media_items())
    for k, genre in enumerate(["jazz", "rock", "folk", "jazz"]):
        items.append(Item(id=f"guide-{k}", title=f"Guide {k}", tags=["format:guide", f"genre:{genre}"]))
        items.append(
            Item(
                id=f"care-{k}",
                title=f"Care {k}",
                tags=["topic:health", "format:guide", f"genre:{genre}", f"mood:m{k}"],
                sensitive=["health"],
            )
        )
    return items


ITEMS = catalog()
PLAIN = [i.id for i in ITEMS if not i.sensitive]
SENSITIVE = [i.id for i in ITEMS if i.sensitive]
KINDS = ["like", "view", "save", "play", "rate", "skip", "click"]


@contextmanager
def world() -> Iterator[tuple[Engine, ManualClock]]:
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock()
        engine = Engine(Settings(data_dir=Path(tmp), auth=AuthSettings(enabled=False)), clock=clock)
        try:
            engine.upsert_items(ITEMS)
            engine.declare_tags([TagMeta(tag="topic:health", label="Health", sensitive_category="health")])
            yield engine, clock
        finally:
            engine.close()


def event(user: str, item: str, kind: str, session: int) -> Event:
    value = {"play": 40.0, "rate": 4.5}.get(kind)
    return Event(
        user_id=user, item_id=item, type=kind, value=value, context=EventContext(session=f"s{session}")
    )


def seen(engine: Engine) -> dict[str, Any]:
    """What the person sees and can read about themselves (scores compared to 1e-6)."""
    profile = engine.profile(ME).model_dump(mode="json")
    for interest in profile["interests"]:
        interest["score"] = round(interest["score"], 6)
        interest["provenance"] = {k: round(v, 6) for k, v in interest["provenance"].items()}
    profile["interests"].sort(key=lambda i: i["tag"])
    lists = {}
    for surface in ("home",):
        recs = engine.recommend(ME, surface=surface, n=12)
        lists[surface] = [(i.item_id, [(r.code, r.tag, r.item_id) for r in i.reasons]) for i in recs.items]
    return {"profile": profile, "lists": lists}


step = st.tuples(st.sampled_from(PLAIN), st.sampled_from(KINDS))
phase_step = st.tuples(st.sampled_from(SENSITIVE), st.sampled_from(KINDS))


@given(
    before=st.lists(step, max_size=8),
    phase=st.lists(st.tuples(phase_step, st.lists(step, max_size=2)), min_size=1, max_size=8),
    after=st.lists(step, max_size=6),
    gaps=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    through_put=st.booleans(),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_after_opt_out_the_person_equals_a_twin_who_never_had_the_phase(
    before: list[tuple[str, str]],
    phase: list[tuple[tuple[str, str], list[tuple[str, str]]]],
    after: list[tuple[str, str]],
    gaps: list[int],
    through_put: bool,
) -> None:
    with world() as (a, clock_a), world() as (b, clock_b):

        def both(fn: Any) -> None:
            fn(a, ME)
            fn(b, ME)

        def advance(days: int) -> None:
            clock_a.advance(timedelta(days=days, hours=1))
            clock_b.advance(timedelta(days=days, hours=1))

        session = 0
        for item, kind in before:
            session += 1
            both(lambda e, u, i=item, k=kind, s=session: e.ingest([event(u, i, k, s)]))
        advance(gaps[0])
        a.set_consent(ME, Consent(sensitive_opt_in=["health"]))
        for (item, kind), plain in phase:
            session += 1
            a.ingest([event(ME, item, kind, session)])
            b.ingest([event(STRANGER, item, kind, session)])  # the twin world's counters move alike
            for p_item, p_kind in plain:
                both(lambda e, u, i=p_item, k=p_kind, s=session: e.ingest([event(u, i, k, s)]))
            advance(gaps[1] % 2)
        if through_put:
            a.save_person(Person(id=ME, consent=Consent(sensitive_opt_in=[])))
        else:
            a.set_consent(ME, Consent())
        advance(gaps[2])
        for item, kind in after:
            session += 1
            both(lambda e, u, i=item, k=kind, s=session: e.ingest([event(u, i, k, s)]))
        assert seen(a) == seen(b)


@given(
    tag=st.sampled_from(["genre:jazz", "mood:m1", "creator:rock-artist-0", "format:guide"]),
    before=st.lists(st.tuples(st.sampled_from(PLAIN), st.sampled_from(KINDS)), min_size=1, max_size=12),
    muted=st.lists(st.tuples(st.sampled_from(PLAIN), st.sampled_from(KINDS)), max_size=8),
    gap=st.integers(0, 3),
    through_put=st.booleans(),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mute_forgets_what_came_through_the_topic_and_unmute_revives_nothing(
    tag: str,
    before: list[tuple[str, str]],
    muted: list[tuple[str, str]],
    gap: int,
    through_put: bool,
) -> None:
    """The twin never engaged with items carrying the muted tag, before or during the mute."""
    carries = {i.id for i in ITEMS if tag in i.tags}
    with world() as (a, clock_a), world() as (b, clock_b):

        def play(events: list[tuple[str, str]], start: int) -> None:
            for n, (item, kind) in enumerate(events):
                a.ingest([event(ME, item, kind, start + n)])
                b.ingest([event(STRANGER if item in carries else ME, item, kind, start + n)])

        play(before, 0)
        if through_put:
            a.save_person(Person(id=ME, muted_topics=[tag]))
        else:
            a.mute_topic(ME, tag)
        b.mute_topic(ME, tag)
        assert seen(a) == seen(b)
        clock_a.advance(timedelta(days=gap))
        clock_b.advance(timedelta(days=gap))
        play(muted, 100)  # liked while muted: not learned, as tags or as item history
        assert seen(a) == seen(b)
        a.unmute_topic(ME, tag)
        b.unmute_topic(ME, tag)
        assert seen(a) == seen(b)
        _, entry = a.states.cached(ME)
        assert not set(entry.profile.items) & carries  # no item history through the topic


def test_what_was_liked_while_muted_drives_no_because_you_liked_after_unmute() -> None:
    with world() as (engine, clock):
        liked_while_muted(engine, clock)


def liked_while_muted(engine: Engine, clock: ManualClock) -> None:
    crowd = [f"p{n}" for n in range(30)]
    engine.ingest(
        [
            event(p, f"{g}-{k}", "like", 0)
            for n, p in enumerate(crowd)
            for g in ("jazz", "rock")
            for k in range(n % 4, 8, 2)
        ]
    )
    engine.train()
    for day in range(3):
        engine.ingest(
            [event(ME, f"{g}-{k}", "like", day) for g in ("rock", "folk") for k in range(day, 8, 3)]
        )
        clock.advance(timedelta(days=1))
    engine.mute_topic(ME, "genre:jazz")
    engine.ingest([event(ME, f"jazz-{k}", "like", 2 + k) for k in range(6)])
    engine.unmute_topic(ME, "genre:jazz")
    recs = engine.recommend(ME, n=20)
    cited = {r.item_id for i in recs.items for r in i.reasons if r.code == "because_you_liked"}
    assert cited and not {c for c in cited if c.startswith("jazz-")}
    assert not [t for t in engine.profile(ME).interests if t.tag == "genre:jazz"]


def test_a_dislike_through_a_forgotten_phase_stays_final(catalog_world: Engine) -> None:
    engine = catalog_world
    engine.set_consent(ME, Consent(sensitive_opt_in=["health"]))
    engine.ingest([event(ME, "care-0", "dislike", 1), event(ME, "care-1", "like", 1)])
    engine.set_consent(ME, Consent())
    engine.set_consent(ME, Consent(sensitive_opt_in=["health"]))
    profile = engine.profile(ME)
    assert profile.disliked_items == ["care-0"]
    assert "care-1" not in profile.consumed_items
    assert all(i.tag != "format:guide" for i in profile.interests)  # only the phase taught it
    assert "care-0" not in [i.item_id for i in engine.recommend(ME, n=40).items]


def test_opt_out_forgets_other_tags_and_item_history_but_keeps_the_rest(catalog_world: Engine) -> None:
    engine = catalog_world
    engine.ingest([event(ME, "guide-0", "like", 0), event(ME, "jazz-0", "like", 0)])
    engine.set_consent(ME, Consent(sensitive_opt_in=["health"]))
    engine.ingest([event(ME, i, "like", n) for n, i in enumerate(SENSITIVE, start=1)])
    before = {i.tag: i for i in engine.profile(ME).interests}
    engine.set_consent(ME, Consent())
    after = {i.tag: i for i in engine.profile(ME).interests}
    assert "topic:health" not in after and "mood:m3" not in after  # only on sensitive items
    assert after["format:guide"].score < before["format:guide"].score
    assert after["format:guide"].evidence == 1 and after["genre:jazz"].evidence == 1
    _, entry = engine.states.cached(ME)
    assert set(entry.profile.items) == {"guide-0", "jazz-0"}  # the fold-in and training input
    assert engine.profile(ME).positive_signals == 2


def test_another_worker_sees_the_forgetting_at_once(tmp_path: Path) -> None:
    settings_ = Settings(data_dir=tmp_path, auth=AuthSettings(enabled=False))
    clock = ManualClock()
    from tactful.storage import open_store

    url = settings_.resolved_database_url
    with (
        Engine(settings_, store=open_store(url), clock=clock) as a,
        Engine(settings_, store=open_store(url), clock=clock) as b,
    ):
        a.upsert_items(ITEMS)
        a.set_consent(ME, Consent(sensitive_opt_in=["health"]))
        a.ingest([event(ME, i, "like", n) for n, i in enumerate(SENSITIVE)])
        assert "format:guide" in {i.tag for i in b.profile(ME).interests}
        a.set_consent(ME, Consent())
        assert "format:guide" not in {i.tag for i in b.profile(ME).interests}
        _, entry = b.states.cached(ME)
        assert not entry.profile.items


@pytest.fixture
def catalog_world() -> Iterator[Engine]:
    with world() as (engine, _):
        yield engine
