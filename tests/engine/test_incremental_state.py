"""Incremental person state equals a fresh rebuild, whatever happened and on whichever worker.

Two engines share one SQLite file, as two server processes do. Each applies events,
preference changes and erasures; each keeps people cached and brings them forward only
from the rows written since the version it holds. After every step, every cached person on
every worker must equal what a fresh read of the store gives, down to the array layout.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful import Engine, Event, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.domain.event import EventContext
from tactful.domain.person import Person
from tactful.index.compiled_profile import ITEM_FIELDS, TAG_FIELDS, CompiledProfile
from tactful.signals.profile import Profile
from tactful.storage import open_store
from tests.conftest import media_items

USERS = ["ann", "bob", "cy"]
ITEMS = [i.id for i in media_items()]
TAGS = sorted({t for i in media_items() for t in i.tags})
EVENT_TYPES = ["like", "view", "dislike", "save", "play", "skip", "impression", "rate"]


def _event(user: str, item: str, kind: str, session: int) -> Event:
    value = {"play": 12.0, "rate": 4.5}.get(kind)
    return Event(
        user_id=user,
        item_id=item,
        type=kind,
        value=value,
        context=EventContext(session=f"s{session}"),
    )


steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("events"),
            st.integers(0, 1),
            st.lists(
                st.tuples(st.sampled_from(USERS), st.sampled_from(ITEMS), st.sampled_from(EVENT_TYPES)),
                min_size=1,
                max_size=6,
            ),
            st.just(""),
        ),
        st.tuples(st.just("mute"), st.integers(0, 1), st.sampled_from(USERS), st.sampled_from(TAGS)),
        st.tuples(st.just("unmute"), st.integers(0, 1), st.sampled_from(USERS), st.sampled_from(TAGS)),
        st.tuples(st.just("state"), st.integers(0, 1), st.sampled_from(USERS), st.sampled_from(TAGS)),
        st.tuples(st.just("remove"), st.integers(0, 1), st.sampled_from(USERS), st.sampled_from(TAGS)),
        st.tuples(st.just("erase"), st.integers(0, 1), st.sampled_from(USERS), st.just("")),
        st.tuples(st.just("put"), st.integers(0, 1), st.sampled_from(USERS), st.sampled_from(TAGS)),
        st.tuples(st.just("read"), st.integers(0, 1), st.sampled_from(USERS), st.just("")),
        st.tuples(st.just("later"), st.integers(0, 1), st.integers(1, 20), st.just("")),
    ),
    min_size=1,
    max_size=18,
)


def _same_profile(got: Profile, want: Profile) -> None:
    assert got.version == want.version
    assert got.positive_signals == want.positive_signals
    assert sorted(got.active_days) == sorted(want.active_days)
    assert got.interests == want.interests
    assert got.items == want.items
    assert got.direct == want.direct


def _same_layout(got: CompiledProfile, want: CompiledProfile) -> None:
    """Equal row for row; rows may come in another order (cached rows keep their first place)."""
    assert got.catalog_version == want.catalog_version and got.last_positive == want.last_positive
    for pos, fields in (("tag_pos", TAG_FIELDS), ("item_pos", ITEM_FIELDS)):
        g, w = np.argsort(getattr(got, pos), kind="stable"), np.argsort(getattr(want, pos), kind="stable")
        assert np.array_equal(getattr(got, pos)[g], getattr(want, pos)[w]), pos
        for name in fields:
            a, b = getattr(got, name)[g], getattr(want, name)[w]
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name
    assert sorted(got.tag_names) == sorted(want.tag_names)


def _check(workers: list[Engine], users: list[str]) -> None:
    store = workers[0].store
    for engine in workers:
        for user in users:
            catalog, entry = engine.states.cached(user)
            person, fresh, version = store.load_person_state(user)
            assert entry.version == version
            _same_profile(entry.profile, fresh)
            assert entry.person == (person or entry.person)
            assert entry.compiled is not None
            _same_layout(entry.compiled, CompiledProfile.build(fresh, catalog))


@given(plan=steps)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_cached_state_on_every_worker_equals_a_fresh_read(plan: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings_ = Settings(data_dir=Path(tmp), auth=AuthSettings(enabled=False))
        clock = ManualClock()
        url = settings_.resolved_database_url
        workers = [
            Engine(settings_, store=open_store(url), clock=clock),
            Engine(settings_, store=open_store(url), clock=clock),
        ]
        try:
            workers[0].upsert_items(media_items())
            _check(workers, USERS)  # everyone cached (empty) on both workers first
            for n, (kind, w, a, b) in enumerate(plan):
                engine = workers[w]
                if kind == "events":
                    engine.ingest([_event(u, i, t, n) for u, i, t in a])
                elif kind == "mute":
                    engine.mute_topic(a, b)
                elif kind == "unmute":
                    engine.unmute_topic(a, b)
                elif kind == "state":
                    engine.state_interest(a, b)
                elif kind == "remove":
                    engine.remove_interest(a, b)
                elif kind == "put":  # mutes exactly ``b`` (an unmute of the rest) through the record
                    engine.save_person(Person(id=a, muted_topics=[b]))
                elif kind == "erase":
                    engine.erase_person(a)
                elif kind == "read":
                    engine.recommend(a)
                else:
                    clock.advance(timedelta(days=a))
                _check(workers, USERS)
        finally:
            for engine in workers:
                engine.close()


def test_an_event_never_reads_the_whole_profile(
    catalog_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest reads only the touched rows: whole-profile reads are not on its path."""
    catalog_engine.ingest([Event(user_id="u", item_id=i, type="like") for i in ITEMS])
    import tactful.storage.sql as sql

    def whole(*args: object, **kwargs: object) -> None:
        raise AssertionError("an event read the whole profile")

    monkeypatch.setattr(sql, "_load_profiles", whole)
    result = catalog_engine.ingest([Event(user_id="u", item_id=ITEMS[0], type="view")])
    assert result.accepted == 1


def test_another_worker_brings_a_person_forward_from_the_changed_rows(
    settings: Settings, clock: ManualClock
) -> None:
    url = settings.resolved_database_url
    with (
        Engine(settings, store=open_store(url), clock=clock) as a,
        Engine(settings, store=open_store(url), clock=clock) as b,
    ):
        a.upsert_items(media_items())
        a.ingest([Event(user_id="u", item_id=i, type="like") for i in ITEMS[:6]])
        before = b.recommend("u", n=5)
        loads = b.states.full_loads
        a.ingest([Event(user_id="u", item_id=before.items[0].item_id, type="dislike")])
        after = b.recommend("u", n=5)
        assert before.items[0].item_id not in [i.item_id for i in after.items]
        assert b.states.full_loads == loads and b.states.deltas >= 1  # rows since, not the person whole
        a.mute_topic("u", "genre:jazz")  # deletes an interest: the next read is whole, and exact
        muted = b.recommend("u", n=5)
        assert all("genre:jazz" not in i.tags for i in muted.items)
        assert b.states.full_loads == loads + 1
