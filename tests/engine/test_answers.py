"""Kept answers: a list served again only while nothing it depends on changed.

The strongest check is the equivalence: two pairs of workers (two engines on one SQLite
file each), one pair keeping answers and one not, go through the same story of events,
preference changes, erasures, catalog and promotion changes, time and repeated reads. Every
list served must be the same in both, item for item, score for score, reason for reason.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful import Engine, Event, Item, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.config.settings import ServingSettings
from tactful.domain.item import ItemAttributes
from tactful.domain.recommendation import Recommendations
from tactful.storage import open_store
from tests.conftest import media_items

USERS = ["ann", "bob"]
ITEMS = [i.id for i in media_items()]
TAGS = sorted({t for i in media_items() for t in i.tags})
TTL = 30.0


def _settings(root: Path, keep: bool) -> Settings:
    return Settings(
        data_dir=root,
        auth=AuthSettings(enabled=False),
        serving=ServingSettings(answer_cache_size=4096 if keep else 0, answer_cache_seconds=TTL),
    )


@contextmanager
def _workers(root: Path, keep: bool, clock: ManualClock) -> Iterator[list[Engine]]:
    s = _settings(root, keep)
    url = s.resolved_database_url
    engines = [Engine(s, store=open_store(url), clock=clock), Engine(s, store=open_store(url), clock=clock)]
    try:
        yield engines
    finally:
        for engine in engines:
            engine.close()


def _shape(rec: Recommendations) -> tuple:
    items = [(i.item_id, i.score, [(r.code, r.message, r.item_id) for r in i.reasons]) for i in rec.items]
    notes = [(r.code, r.message) for r in rec.notes or []]
    return rec.engagement, items, notes


def _apply(engine: Engine, step: tuple, n: int, clock: ManualClock) -> tuple | None:
    kind, _, a, b = step
    if kind == "events":
        engine.ingest(
            [Event(user_id=u, item_id=i, type=t, value=12.0 if t == "play" else None) for u, i, t in a]
        )
    elif kind == "mute":
        engine.mute_topic(a, b)
    elif kind == "unmute":
        engine.unmute_topic(a, b)
    elif kind == "state":
        engine.state_interest(a, b)
    elif kind == "erase":
        engine.erase_person(a)
    elif kind == "consent":
        engine.set_consent(a, {"personalization": b})
    elif kind == "promote":
        engine.create_promotion({"id": f"p{n}", "name": "offer", "items": [b]})
    elif kind == "window":  # an item that leaves the catalog in an hour
        until = clock.now() + timedelta(hours=1)
        engine.upsert_items(
            [Item(id=b, title=b, tags=[TAGS[n % len(TAGS)]], attributes=ItemAttributes(expires_at=until))]
        )
    elif kind == "read":
        return _shape(engine.recommend(a, n=6))
    elif kind == "explain":
        return _shape(engine.recommend(a, n=6, explain=True))
    # "later" is applied once for both pairs by the caller
    return None


EVENT_TYPES = ["like", "view", "dislike", "save", "play", "skip", "impression"]
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("events"),
            st.integers(0, 1),
            st.lists(
                st.tuples(st.sampled_from(USERS), st.sampled_from(ITEMS), st.sampled_from(EVENT_TYPES)),
                min_size=1,
                max_size=5,
            ),
            st.just(""),
        ),
        st.tuples(
            st.sampled_from(["mute", "unmute", "state"]),
            st.integers(0, 1),
            st.sampled_from(USERS),
            st.sampled_from(TAGS),
        ),
        st.tuples(st.just("consent"), st.integers(0, 1), st.sampled_from(USERS), st.booleans()),
        st.tuples(st.just("erase"), st.integers(0, 1), st.sampled_from(USERS), st.just("")),
        st.tuples(st.just("promote"), st.integers(0, 1), st.just(""), st.sampled_from(ITEMS)),
        st.tuples(st.just("window"), st.integers(0, 1), st.just(""), st.sampled_from(ITEMS)),
        st.tuples(
            st.sampled_from(["read", "read", "read", "explain"]),
            st.integers(0, 1),
            st.sampled_from(USERS),
            st.just(""),
        ),
        # time moves by nothing (a reload), past the time-to-live, or by hours and days
        st.tuples(
            st.just("later"),
            st.integers(0, 1),
            st.sampled_from([0.0, TTL, 3_600.0, 86_400.0 * 3]),
            st.just(""),
        ),
    ),
    min_size=1,
    max_size=24,
)


@given(story=steps)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_kept_answers_equal_fresh_answers_on_every_worker(story: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kept_clock, fresh_clock = ManualClock(), ManualClock()
        with (
            _workers(Path(tmp) / "kept", True, kept_clock) as kept,
            _workers(Path(tmp) / "fresh", False, fresh_clock) as fresh,
        ):
            for pair in (kept, fresh):
                pair[0].upsert_items(media_items())
            for n, step in enumerate(story):
                kind, w = step[0], step[1]
                if kind == "later":
                    for clock in (kept_clock, fresh_clock):
                        clock.advance(timedelta(seconds=step[2]))
                    continue
                got = _apply(kept[w], step, n, kept_clock)
                want = _apply(fresh[w], step, n, fresh_clock)
                for pair in (kept, fresh):  # back-off counters reach the store, as a flush would
                    for engine in pair:
                        engine.served.flush()
                assert got == want, (n, step)


def test_a_reload_is_served_from_the_kept_answer(catalog_engine: Engine) -> None:
    first = catalog_engine.recommend("newcomer", n=5)
    hits = catalog_engine.answers.hits
    again = catalog_engine.recommend("newcomer", n=5)
    assert catalog_engine.answers.hits == hits + 1
    assert again.recommendation_id != first.recommendation_id  # each serving is its own record
    assert _shape(again) == _shape(first)


def test_a_signal_is_felt_on_the_very_next_request(catalog_engine: Engine) -> None:
    before = catalog_engine.recommend("u", n=5)
    catalog_engine.ingest([Event(user_id="u", item_id=before.items[0].item_id, type="dislike")])
    after = catalog_engine.recommend("u", n=5)
    assert before.items[0].item_id not in [i.item_id for i in after.items]


def test_a_change_through_another_worker_is_seen(settings: Settings, clock: ManualClock) -> None:
    url = settings.resolved_database_url
    with (
        Engine(settings, store=open_store(url), clock=clock) as a,
        Engine(settings, store=open_store(url), clock=clock) as b,
    ):
        a.upsert_items(media_items())
        shown = b.recommend("u", n=5)
        b.recommend("u", n=5)
        a.mute_topic("u", "genre:jazz")
        a.ingest([Event(user_id="u", item_id=shown.items[0].item_id, type="dislike")])
        after = b.recommend("u", n=5)
        assert shown.items[0].item_id not in [i.item_id for i in after.items]
        assert all("genre:jazz" not in i.tags for i in after.items)


def test_a_list_expires_when_an_item_leaves_the_catalog(catalog_engine: Engine, clock: ManualClock) -> None:
    first = catalog_engine.recommend("newcomer", n=5)
    leaving = first.items[0].item_id
    item = catalog_engine.get_item(leaving)
    leaves = item.attributes.model_copy(update={"expires_at": clock.now() + timedelta(seconds=5)})
    catalog_engine.upsert_items([item.model_copy(update={"attributes": leaves})])
    assert leaving in [i.item_id for i in catalog_engine.recommend("newcomer", n=5).items]
    clock.advance(timedelta(seconds=5))  # well within the time-to-live, but the item is gone
    assert leaving not in [i.item_id for i in catalog_engine.recommend("newcomer", n=5).items]


def test_lists_with_promotions_are_never_kept(catalog_engine: Engine) -> None:
    catalog_engine.create_promotion({"id": "offer", "name": "offer", "items": [ITEMS[0]], "cap": 2})
    shown = [
        any(r.code == "promoted" for i in catalog_engine.recommend("newcomer", n=5).items for r in i.reasons)
        for _ in range(4)
    ]
    assert shown == [True, True, False, False]  # the cap holds exactly, list after list


def test_erasure_forgets_kept_answers(catalog_engine: Engine) -> None:
    catalog_engine.recommend("gone", n=5)
    catalog_engine.erase_person("gone")
    assert all(key[0] != "gone" for key in catalog_engine.answers._entries)


def test_the_cache_can_be_turned_off(tmp_path: Path, clock: ManualClock) -> None:
    s = Settings(data_dir=tmp_path, serving=ServingSettings(answer_cache_size=0))
    with Engine(s, clock=clock) as engine:
        engine.upsert_items(media_items())
        engine.recommend("u")
        engine.recommend("u")
        assert engine.answers.hits == 0 and len(engine.answers) == 0
