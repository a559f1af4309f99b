"""The storage contract: every protocol method, the same assertions on every backend.

Each test runs once on SQLite and once on PostgreSQL (marked ``postgres``; the database
comes from ``tests/conftest.py``, and under ``CI`` an unreachable server fails the run).
Tests go through :mod:`tactful.storage.protocol` only: no table, row or connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tactful import Engine, ManualClock, Settings
from tactful.clock import from_epoch
from tactful.domain.event import Event, Provenance
from tactful.domain.item import Item, ItemAttributes, TagMeta
from tactful.domain.messages import (
    Channel,
    DigestItem,
    MessagePreferences,
    MessageState,
    OutboxMessage,
    OutboxStatus,
)
from tactful.domain.person import Consent, Person
from tactful.errors import Conflict
from tactful.experiments.model import Experiment, ExperimentSpec, Status, VariantSpec
from tactful.policy.hints import BackoffCounter
from tactful.signals.profile import DecayedScores, ItemState, Profile, TagInterest, Trace
from tactful.storage import open_store
from tactful.storage.protocol import (
    AuditRecord,
    ErasureCheck,
    ExperimentServedRecord,
    ExposureRecord,
    ItemStat,
    KeyRecord,
    KnownEvent,
    PromotionFields,
    ServedList,
    Store,
    StoredPreferences,
)

T0 = 1_780_000_000.0  # 2026-05-28, epoch seconds
DAY = 86_400.0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgres":
        yield request.getfixturevalue("pg_store")  # fresh tables for every test
        return
    opened = open_store(f"sqlite:///{tmp_path}/contract.sqlite3")
    yield opened
    opened.close()


# -- helpers ---------------------------------------------------------------------------------


def item(item_id: str, *tags: str, title: str = "", created: float = T0) -> Item:
    return Item(id=item_id, title=title or item_id.upper(), tags=list(tags), created_at=from_epoch(created))


def event(
    user_id: str,
    item_id: str | None,
    ts: float,
    event_id: str | None = None,
    type: str = "click",
    value: float | None = None,
    provenance: Provenance = Provenance.observed,
) -> Event:
    return Event(
        id=event_id,
        user_id=user_id,
        item_id=item_id,
        type=type,
        value=value,
        timestamp=from_epoch(ts),
        provenance=provenance,
    )


def write_events(store: Store, events: list[Event]) -> None:
    with store.unit_of_work() as uow:
        uow.create_persons([Person(id=u) for u in sorted({e.user_id for e in events})], T0)
        uow.write_events(events)


def profile_for(user_id: str, positive: int = 2) -> Profile:
    profile = Profile(user_id)
    profile.positive_signals = positive
    profile.active_days = [20600, 20601]
    profile.interests["genre:jazz"] = TagInterest(
        scores=DecayedScores({"explicit": [1.5, T0], "observed": [0.25, T0 - 10]}),
        evidence=["d:20600", "d:20601"],
        last_positive=T0,
        established=False,
    )
    profile.items["a"] = ItemState(
        scores=DecayedScores({"observed": [0.5, T0]}),
        disliked=False,
        consumed=True,
        impressions=3,
        last_impression=T0 - 5,
        last_engaged=T0,
        unengaged=1,
        trace=Trace(
            {"genre:jazz": TagInterest(DecayedScores({"observed": [0.25, T0 - 10]}), ["d:20600"], T0 - 10)},
            positives=1,
            days=[20600],
        ),
    )
    profile.items["b"] = ItemState(disliked=True, impressions=1, last_impression=T0)
    profile.direct = Trace(
        {"genre:jazz": TagInterest(DecayedScores({"explicit": [1.0, T0]}), ["d:20601"], T0)}
    )
    profile.dirty_tags.update(profile.interests)
    profile.dirty_items.update(profile.items)
    return profile


def promotion(pid: str, **changes: object) -> PromotionFields:
    values: PromotionFields = {
        "id": pid,
        "name": f"promo {pid}",
        "items": ["a", "b"],
        "tags": ["genre:jazz"],
        "target_tags": [],
        "surfaces": ["home"],
        "cap": 3,
        "window_days": 7.0,
        "starts_at": T0,
        "ends_at": None,
        "ended_at": None,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(changes)  # type: ignore[typeddict-item]
    return values


def populate_person(store: Store, user_id: str, item_id: str = "a") -> None:
    """A row for ``user_id`` in every person table."""
    store.upsert_items([item(item_id, "genre:jazz")], T0)
    store.save_person(Person(id=user_id, timezone="Europe/Paris", muted_topics=["genre:folk"]))
    write_events(store, [event(user_id, item_id, T0, f"{user_id}-e1", "like")])
    with store.unit_of_work() as uow:
        uow.save_profiles([profile_for(user_id)])
    store.save_recommendations([ServedList(f"r-{user_id}", user_id, "home", T0, (item_id,))])
    if store.get_promotion("p-export", T0) is None:
        store.insert_promotion(promotion("p-export"), T0)
    store.record_served(user_id, f"r-{user_id}", [("p-export", item_id)], BackoffCounter(2, T0, None), T0)
    store.update_message_prefs(user_id, lambda cur: (cur.prefs, cur.state), T0)
    message = outbox_message(user_id, Channel.email, "d2026-05-28")
    store.enqueue_messages([user_id], 0, lambda history: [message], {user_id: "d2026-05-28"})
    store.record_message_feedback(message.id, user_id, "open", T0, {"k": 1})
    store.save_exposures(
        [ExposureRecord("exp-export", user_id, "control", T0, "home", f"r-{user_id}")],
        [ExperimentServedRecord(f"r-{user_id}", "exp-export", user_id, "control", T0, 1)],
    )


def outbox_message(user_id: str, channel: Channel, period: str, day: int = 740_000) -> OutboxMessage:
    return OutboxMessage(
        id=f"m-{user_id}-{channel.value}-{period}",
        key=f"{user_id}|{channel.value}|{period}",
        user_id=user_id,
        channel=channel,
        period=period,
        kind="general",
        topics=["digest"],
        items=[DigestItem(item_id="a", title="A", topics=["digest"], reason="popular")],
        status=OutboxStatus.queued,
        planned_at=from_epoch(T0),
        send_after=from_epoch(T0),
        next_attempt_at=from_epoch(T0),
        local_day=day,
    )


# -- lifecycle -------------------------------------------------------------------------------


def test_schema_is_versioned_and_migrate_is_idempotent(store: Store) -> None:
    version = store.schema_version()
    assert isinstance(version, str) and version
    store.migrate()
    assert store.schema_version() == version
    assert store.stats() == {"items": 0, "persons": 0, "events": 0, "interests": 0}


def test_engine_round_trip_over_the_store(store: Store, tmp_path: Path) -> None:
    clock = ManualClock(from_epoch(T0))
    with Engine(Settings(data_dir=tmp_path / "data"), store=store, clock=clock) as engine:
        engine.upsert_items(
            [Item(id="a", title="A", tags=["genre:x", "creator:y"]), Item(id="b", tags=["genre:x"])]
        )
        engine.ingest(
            [
                Event(id="e1", user_id="u", item_id="a", type="like"),
                Event(id="e2", user_id="u", item_id="b", type="dislike"),
            ]
        )
        assert engine.ingest([Event(id="e1", user_id="u", item_id="a", type="like")]).duplicates == 1
        profile = store.load_profile("u")
        assert profile.hard_negatives() == {"b"} and profile.positive_signals == 1
        assert set(profile.interests) == {"genre:x", "creator:y"}
        stats = {s.item_id: s.interactions for s in store.load_all_item_stats()}
        assert stats == {"a": 1.0}
        found = store.get_item("a")
        assert found is not None and found.tags == ["genre:x", "creator:y"]
        assert store.delete_items(["a"]) == 1 and store.get_item("a") is None
        assert [e.event_id for batch in store.iter_events() for e in batch] == ["e1", "e2"]
        assert engine.recommend("u", n=1).items == []  # only the disliked item is left


# -- catalog ---------------------------------------------------------------------------------


def test_items_upsert_read_and_bump_the_catalog_version(store: Store) -> None:
    assert store.catalog_version() == 0 and store.load_catalog() == [] and store.item_ids() == []
    rich = Item(
        id="b",
        title="Bee",
        tags=["genre:jazz", "creator:x"],
        attributes=ItemAttributes(price=9.5, url="https://example.com/b", extra={"year": 1999}),
        sensitive=["health"],
        created_at=from_epoch(T0 - DAY),
    )
    store.upsert_items([rich, item("a", "genre:rock")], T0)
    assert store.catalog_version() == 1
    assert store.get_item("b") == rich and store.get_item("zzz") is None
    assert [i.id for i in store.load_catalog()] == ["a", "b"] == store.item_ids()
    assert store.item_tags(["b", "zzz", "a", "b"]) == {"b": ["genre:jazz", "creator:x"], "a": ["genre:rock"]}

    store.upsert_items([item("a", "genre:folk", title="Ay")], T0 + 1)  # an update
    assert store.catalog_version() == 2
    updated = store.get_item("a")
    assert updated is not None and updated.title == "Ay" and updated.tags == ["genre:folk"]
    assert store.count("items") == 2
    store.upsert_items([], T0)  # nothing to write still tells workers to reload
    assert store.catalog_version() == 3


def test_delete_items_counts_removes_their_stats_and_bumps(store: Store) -> None:
    ids = [f"i{n:04d}" for n in range(1200)]  # more than one bound-parameter chunk
    store.upsert_items([item(i) for i in ids], T0)
    with store.unit_of_work() as uow:
        uow.save_item_stats([ItemStat("i0001", 2.0, 1.0, T0), ItemStat("i0002", 1.0, 1.0, T0)])
    before = store.catalog_version()
    assert store.delete_items([*ids[:1100], "missing"]) == 1100
    assert store.catalog_version() == before + 1
    assert store.item_ids() == ids[1100:]
    assert store.get_item("i0001") is None and store.load_all_item_stats() == []
    assert store.delete_items(["missing"]) == 0


def test_tag_meta_round_trip_and_bump(store: Store) -> None:
    assert store.load_tag_meta() == []
    store.upsert_tag_meta([TagMeta(tag="topic:flu", label="Flu", sensitive_category="health")])
    store.upsert_tag_meta([TagMeta(tag="genre:jazz", label="Jazz")])
    assert store.catalog_version() == 2
    store.upsert_tag_meta([TagMeta(tag="topic:flu", label="Influenza", sensitive_category="health")])
    metas = {m.tag: m for m in store.load_tag_meta()}
    assert metas == {
        "topic:flu": TagMeta(tag="topic:flu", label="Influenza", sensitive_category="health"),
        "genre:jazz": TagMeta(tag="genre:jazz", label="Jazz", sensitive_category=None),
    }


def test_item_stats_round_trip(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.load_item_stats(["a"]) == {}
        uow.save_item_stats([ItemStat("a", 3.0, 2.5, T0), ItemStat("b", 1.0, 0.5, T0 - 1)])
    with store.unit_of_work() as uow:
        assert uow.load_item_stats(["a", "zzz"]) == {"a": ItemStat("a", 3.0, 2.5, T0)}
        uow.save_item_stats([ItemStat("a", 4.0, 3.0, T0 + 1)])
    stats = sorted(store.load_all_item_stats(), key=lambda s: s.item_id)
    assert stats == [ItemStat("a", 4.0, 3.0, T0 + 1), ItemStat("b", 1.0, 0.5, T0 - 1)]


# -- people ----------------------------------------------------------------------------------


def test_persons_save_get_and_versions(store: Store) -> None:
    assert store.get_person("ann") is None
    person, profile, version = store.load_person_state("ann")
    assert person is None and version is None and profile == Profile("ann")
    ann = Person(
        id="ann",
        timezone="Europe/Paris",
        consent=Consent(personalization=False, sensitive_opt_in=["health"]),
        stated_interests=["genre:jazz"],
        muted_topics=["genre:folk"],
        blocked_interests=["genre:rock"],
    )
    store.save_person(ann)
    assert store.get_person("ann") == ann
    with store.unit_of_work() as uow:
        first = uow.versions(["ann", "nobody"])
    assert set(first) == {"ann"}
    changed = ann.model_copy(update={"timezone": "Asia/Tokyo", "muted_topics": []})
    store.save_person(changed)
    assert store.get_person("ann") == changed
    person, _, version = store.load_person_state("ann")
    assert person == changed and version == first["ann"] + 1
    assert store.consents() == {"ann": changed.consent}
    assert store.count("persons") == 1


def test_create_persons_never_overwrites(store: Store) -> None:
    store.save_person(Person(id="ann", timezone="Europe/Paris"))
    with store.unit_of_work() as uow:
        uow.create_persons([Person(id="ann"), Person(id="bob")], T0)
        loaded = uow.load_persons(["ann", "bob", "nobody"])
    assert set(loaded) == {"ann", "bob"} and loaded["ann"].timezone == "Europe/Paris"
    assert loaded["bob"] == Person(id="bob")


def test_sample_person_ids_most_active_first(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.create_persons([Person(id=u) for u in ("low", "high", "mid")], T0)
        uow.save_profiles([profile_for("low", 1), profile_for("high", 9), profile_for("mid", 4)])
    assert store.sample_person_ids(2) == ["high", "mid"]
    assert store.sample_person_ids(10) == ["high", "mid", "low"]


def test_profiles_save_load_round_trip(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.create_persons([Person(id="ann")], T0)
        before = uow.versions(["ann"])["ann"]
        saved = profile_for("ann")
        uow.save_profiles([saved])
        assert not saved.dirty_tags and not saved.dirty_items  # written, so clean again
        assert uow.versions(["ann"])["ann"] == before + 1
    loaded = store.load_profile("ann")
    expected = profile_for("ann")
    expected.dirty_tags.clear()
    expected.dirty_items.clear()
    expected.version = before + 1  # a profile carries the version it was read at
    assert loaded == expected
    with store.unit_of_work() as uow:
        assert uow.load_profiles(["ann"])["ann"] == loaded
        # a dirty tag no longer in the profile is deleted; clean entries are left alone
        loaded.interests.pop("genre:jazz")
        loaded.dirty_tags.add("genre:jazz")
        loaded.items["a"].impressions = 99  # not marked dirty: not written
        uow.save_profiles([loaded])
    again = store.load_profile("ann")
    assert again.interests == {} and again.items["a"].impressions == 3
    assert store.load_profile("nobody") == Profile("nobody")


def test_profile_rows_and_deltas_read_only_what_was_asked_or_changed(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.create_persons([Person(id="ann")], T0)
        uow.save_profiles([profile_for("ann")])
    whole = store.load_profile("ann")
    with store.unit_of_work() as uow:
        rows = uow.load_profile_rows({"ann": (["genre:jazz", "genre:none"], ["a", "zz"]), "new": ([], [])})
    ann = rows["ann"]
    assert ann.version == whole.version and ann.positive_signals == whole.positive_signals
    assert set(ann.interests) == {"genre:jazz"} and set(ann.items) == {"a"}
    assert ann.interests["genre:jazz"] == whole.interests["genre:jazz"] and ann.items["a"] == whole.items["a"]
    assert rows["new"] == Profile("new")  # asked for but not stored: empty, version 0
    # nothing written since the version held: an empty delta at the same version
    found = store.load_person_delta("ann", whole.version)
    assert found is not None and found[1].version == whole.version
    assert found[1].interests == {} and found[1].items == {}
    # a write of one row: the delta holds that row only, and applying it gives the stored profile
    with store.unit_of_work() as uow:
        part = uow.load_profile_rows({"ann": ([], ["a"])})["ann"]
        part.items["a"].impressions += 1
        part.dirty_items.add("a")
        uow.save_profiles([part])
    found = store.load_person_delta("ann", whole.version)
    assert found is not None
    person, delta = found
    assert person.id == "ann" and set(delta.items) == {"a"} and delta.interests == {}
    assert delta.applied_to(whole) == store.load_profile("ann")
    assert whole.items["a"].impressions == 3  # applying a delta makes a new profile
    # a write that deletes a row: no delta is exact any more, until the reader catches up
    latest = store.load_profile("ann")
    with store.unit_of_work() as uow:
        gone = uow.load_profiles(["ann"])["ann"]
        gone.interests.pop("genre:jazz")
        gone.dirty_tags.add("genre:jazz")
        uow.save_profiles([gone])
    assert store.load_person_delta("ann", latest.version) is None
    assert store.load_person_delta("ann", store.load_profile("ann").version) is not None
    assert store.load_person_delta("nobody", 0) is None
    # deleting an item row (a forgotten item) also moves the reset version; the direct trace travels
    latest = store.load_profile("ann")
    with store.unit_of_work() as uow:
        gone = uow.load_profiles(["ann"])["ann"]
        del gone.items["a"]
        gone.dirty_items.add("a")
        gone.direct = Trace()
        uow.save_profiles([gone])
    assert store.load_person_delta("ann", latest.version) is None
    after = store.load_profile("ann")
    assert set(after.items) == {"b"} and after.direct == Trace()
    with store.unit_of_work() as uow:
        part = uow.load_profile_rows({"ann": ([], [])})["ann"]
        part.direct = Trace(positives=2, days=[20602])
        uow.save_profiles([part])
    found = store.load_person_delta("ann", after.version)
    assert found is not None and found[1].direct == Trace(positives=2, days=[20602])
    assert found[1].applied_to(after) == store.load_profile("ann")


def test_erasures_are_counted_and_the_files_scrubbed(store: Store) -> None:
    populate_person(store, "ann")
    seq = store.erasure_seq()
    with store.erasure("ann") as tx:
        tx.erase_person_rows()
        tx.count_erasure()
    assert store.erasure_seq() == seq + 1
    assert store.scrub_disk() is True
    with pytest.raises(RuntimeError):
        with store.erasure("bob") as tx:
            tx.count_erasure()
            raise RuntimeError("rolled back")
    assert store.erasure_seq() == seq + 1


# -- unit of work ----------------------------------------------------------------------------


def test_unit_of_work_is_all_or_nothing(store: Store) -> None:
    store.upsert_items([item("a")], T0)
    with pytest.raises(RuntimeError, match="boom"):
        with store.unit_of_work() as uow:
            uow.create_persons([Person(id="ann")], T0)
            uow.save_persons([Person(id="bob", timezone="Europe/Paris")])
            uow.write_events([event("ann", "a", T0, "e1", "like")])
            uow.save_profiles([profile_for("ann")])
            uow.save_item_stats([ItemStat("a", 1.0, 1.0, T0)])
            assert set(uow.known_events([("ann", "e1")])) == {("ann", "e1")}  # visible inside the transaction
            raise RuntimeError("boom")
    assert store.get_person("ann") is None and store.get_person("bob") is None
    assert store.last_event_seq() == 0 and store.count("events") == 0
    assert store.load_all_item_stats() == [] and store.load_profile("ann") == Profile("ann")
    with store.unit_of_work() as uow:
        assert uow.known_events([("ann", "e1")]) == {}


def test_event_ids_make_writes_idempotent(store: Store) -> None:
    ids = [f"e{n}" for n in range(1100)]  # more than one chunk
    write_events(store, [event("ann", None, T0 + n, i, "search") for n, i in enumerate(ids)])
    write_events(store, [event("ann", None, T0, None, "search"), event("ann", None, T0, None, "search")])
    with store.unit_of_work() as uow:
        keys = [("ann", i) for i in [*ids[::7], "new-1", "new-2"]]
        assert set(uow.known_events(keys)) == {("ann", i) for i in ids[::7]}
        assert uow.known_events([]) == {}
    assert store.count("events") == 1102  # events without an id are never deduplicated


def test_event_ids_are_scoped_to_their_person(store: Store) -> None:
    write_events(store, [event("ann", "a", T0, "e1", "like", 1.0), event("ann", None, T0, "e2", "search")])
    with store.unit_of_work() as uow:
        # bob's e1 is his own event, not ann's
        assert uow.write_events([event("bob", "b", T0, "e1", "dislike")]) == 1
        known = uow.known_events([("ann", "e1"), ("bob", "e1"), ("bob", "e2"), ("cyd", "e1")])
    assert set(known) == {("ann", "e1"), ("bob", "e1")}
    assert known[("ann", "e1")] == KnownEvent("a", "like", 1.0)
    assert known[("bob", "e1")] == KnownEvent("b", "dislike", None)
    assert store.count("events") == 3


def test_writing_a_stored_event_again_is_skipped_and_counted(store: Store) -> None:
    write_events(store, [event("ann", "a", T0, "e1", "like")])
    with store.unit_of_work() as uow:
        again = [event("ann", "a", T0, "e1", "like"), event("ann", "a", T0, "e2", "like")]
        again.append(event("ann", "a", T0))
        assert uow.write_events(again) == 2  # e1 skipped, no error; e2 and the id-less one written
        assert uow.write_events([]) == 0
    assert store.count("events") == 3


# -- events and training reads ---------------------------------------------------------------


def test_iter_events_in_order_and_pages(store: Store) -> None:
    assert list(store.iter_events()) == []
    events = [
        event("u1", "a", T0 + 5, "e0", "like"),
        event("u2", None, T0 - 100, None, "search"),
        event("u1", "b", T0, "e2", "rate", value=4.5, provenance=Provenance.explicit),
    ] + [event(f"u{n % 3}", "a", T0 + n, f"x{n}") for n in range(4)]
    write_events(store, events)
    batches = list(store.iter_events(batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    flat = [e for b in batches for e in b]
    seqs = [e.seq for e in flat]
    assert seqs == sorted(seqs) and len(set(seqs)) == 7 and store.last_event_seq() == seqs[-1]
    assert [e.event_id for e in flat] == ["e0", None, "e2", "x0", "x1", "x2", "x3"]
    rated = flat[2]
    assert (rated.user_id, rated.item_id, rated.type, rated.value, rated.provenance) == (
        "u1",
        "b",
        "rate",
        4.5,
        "explicit",
    )
    assert rated.ts == pytest.approx(T0) and flat[1].item_id is None and flat[1].ts == pytest.approx(T0 - 100)
    assert [e.event_id for b in store.iter_events() for e in b] == [e.event_id for e in flat]


def test_iter_event_columns_pages_the_same_events_as_columns(store: Store) -> None:
    assert list(store.iter_event_columns()) == []
    events = [
        event("u1", "a", T0 + 5, "e0", "like"),
        event("u2", None, T0 - 100, None, "search"),
        event("u1", "b", T0, "e2", "rate", value=4.5, provenance=Provenance.explicit),
    ] + [event(f"u{n % 3}", "a", T0 + n, f"x{n}") for n in range(4)]
    events[0] = events[0].model_copy(update={"surface": "home", "recommendation_id": "r1"})
    write_events(store, events)
    rows = [e for b in store.iter_events() for e in b]
    pages = list(store.iter_event_columns(batch_size=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    seqs = [s for p in pages for s in p.seq]
    assert seqs == [e.seq for e in rows]
    for name in ("event_id", "user_id", "item_id", "type", "value", "provenance"):
        assert [v for p in pages for v in getattr(p, name)] == [getattr(e, name) for e in rows], name
    assert [v for p in pages for v in p.ts] == pytest.approx([e.ts for e in rows])
    assert pages[0].surface[0] == "home" and pages[0].recommendation_id[0] == "r1"
    assert pages[0].surface[1] is None
    # resuming after a seq gives exactly the rest, in order
    rest = [s for p in store.iter_event_columns(batch_size=2, after_seq=seqs[3]) for s in p.seq]
    assert rest == seqs[4:]


def test_iter_item_states_in_key_order_and_pages(store: Store) -> None:
    users = ["u2", "u10", "u1"]
    with store.unit_of_work() as uow:
        uow.create_persons([Person(id=u) for u in users], T0)
        profiles = []
        for n, user in enumerate(users):
            profile = Profile(user)
            for item_id in ("b", "a", "c"):
                profile.items[item_id] = ItemState(
                    scores=DecayedScores({"observed": [float(n), T0]}), last_engaged=T0 + n
                )
                profile.dirty_items.add(item_id)
            profiles.append(profile)
        uow.save_profiles(profiles)
    batches = list(store.iter_item_states(batch_size=4))
    assert [len(b) for b in batches] == [4, 4, 1]
    keys = [(r.user_id, r.item_id) for b in batches for r in b]
    assert keys == sorted((u, i) for u in users for i in ("a", "b", "c"))
    first = batches[0][0]
    assert first.user_id == "u1" and first.scores == {"observed": [2.0, T0]} and first.last_engaged == T0 + 2


def test_served_lists_are_stored(store: Store) -> None:
    store.save_recommendations([])
    store.save_recommendations(
        [ServedList("r1", "ann", "home", T0, ("a", "b")), ServedList("r2", "bob", "email", T0 + 1, ())]
    )
    rows = store.person_rows("ann")["recommendations"]
    assert rows == [{"id": "r1", "user_id": "ann", "surface": "home", "created_at": T0, "items": ["a", "b"]}]
    assert store.count("recommendations") == 2


# -- policy ----------------------------------------------------------------------------------


def test_promotions_crud_status_and_versions(store: Store) -> None:
    assert store.freshness("ann").promotions_version == 0
    assert store.list_promotions(T0) == [] and store.get_promotion("p1", T0) is None
    made = store.insert_promotion(promotion("p1"), T0)
    assert made.id == "p1" and made.items == ["a", "b"] and made.surfaces == ["home"] and made.cap == 3
    assert made.starts_at == from_epoch(T0) and made.ends_at is None and made.status == "active"
    assert store.freshness("ann").promotions_version == 1
    with pytest.raises(Conflict):
        store.insert_promotion(promotion("p1", name="again"), T0)
    assert store.freshness("ann").promotions_version == 1

    store.insert_promotion(promotion("p2", starts_at=T0 + DAY, created_at=T0 + 1), T0)
    store.insert_promotion(promotion("p3", ends_at=T0 + 10, created_at=T0 + 2), T0)
    assert store.get_promotion("p2", T0) is not None
    assert [(p.id, p.status) for p in store.list_promotions(T0)] == [
        ("p1", "active"),
        ("p2", "scheduled"),
        ("p3", "active"),
    ]
    assert [p.status for p in store.list_promotions(T0 + 20)] == ["active", "scheduled", "ended"]
    assert [p.id for p in store.list_promotions(T0 + 20, include_ended=False)] == ["p1", "p2"]

    changed = store.update_promotion("p1", {"name": "renamed", "items": ["c"], "cap": 5}, T0)
    assert changed is not None and changed.name == "renamed" and changed.items == ["c"] and changed.cap == 5
    assert store.freshness("ann").promotions_version == 4
    assert store.update_promotion("nope", {"name": "x"}, T0) is None
    assert store.freshness("ann").promotions_version == 4
    ended = store.update_promotion("p1", {"ended_at": T0 + 5, "updated_at": T0 + 5}, T0 + 6)
    assert ended is not None and ended.status == "ended" and ended.ended_at == from_epoch(T0 + 5)
    with pytest.raises(ValueError):
        store.update_promotion("p2", {"not_a_field": 1}, T0)

    active = {p.id: p for p in store.active_promotions(T0 + 20)}
    assert set(active) == {"p2"}  # p1 ended, p3 past its end
    assert active["p2"].items == ("a", "b") and active["p2"].surfaces == frozenset({"home"})
    assert active["p2"].starts_at == T0 + DAY and active["p2"].target_tags == frozenset()
    assert {p.id for p in store.active_promotions()} == {"p2", "p3"}  # for caching: ends_at not checked


def test_exposures_and_record_served(store: Store) -> None:
    assert store.exposures("ann", [], T0) == {}
    store.record_served("ann", "r1", [("p1", "a"), ("p2", "b")], None, T0)
    store.record_served("ann", "r2", [("p1", "c")], None, T0 + 10)
    store.record_served("bob", "r3", [("p1", "a")], None, T0 + 10)
    store.record_served("ann", "r4", [], None, T0 + 20)  # nothing to write
    assert store.exposures("ann", ["p1", "p2", "p9"], T0 - 1) == {"p1": [T0, T0 + 10], "p2": [T0]}
    assert store.exposures("ann", ["p1", "p2"], T0) == {"p1": [T0 + 10]}  # strictly after ``since``
    assert store.exposures("carl", ["p1"], 0.0) == {}
    assert store.backoff("ann") == BackoffCounter()


def test_backoff_counters(store: Store) -> None:
    assert store.backoff("ann") == BackoffCounter()
    store.save_backoff([])
    store.save_backoff([("ann", BackoffCounter(4, T0, None), T0), ("bob", BackoffCounter(9, T0, T0 + 1), T0)])
    assert store.backoff("ann") == BackoffCounter(4, T0, None)
    assert store.backoff("bob") == BackoffCounter(9, T0, T0 + 1)
    store.record_served("ann", "r1", [("p1", "a")], BackoffCounter(5, T0, T0 + 2), T0 + 2)
    assert store.backoff("ann") == BackoffCounter(5, T0, T0 + 2)
    assert store.exposures("ann", ["p1"], 0.0) == {"p1": [T0 + 2]}


def test_an_older_backoff_counter_never_overwrites_a_newer_one(store: Store) -> None:
    """Workers write the counters they buffered in any order: the newest stays."""
    store.save_backoff([("ann", BackoffCounter(6, T0, None), T0 + 6)])
    store.save_backoff([("ann", BackoffCounter(4, T0, None), T0 + 4)])  # a slower worker's, older
    assert store.backoff("ann") == BackoffCounter(6, T0, None)
    store.record_served("ann", "r1", [], BackoffCounter(5, T0, None), T0 + 5)
    assert store.backoff("ann") == BackoffCounter(6, T0, None) == store.freshness("ann").backoff
    store.save_backoff([("ann", BackoffCounter(7, T0, None), T0 + 6)])  # same moment: the later write
    assert store.backoff("ann") == BackoffCounter(7, T0, None)
    store.save_backoff([("ann", BackoffCounter(0, T0 + 9, None), T0 + 9)])
    assert store.backoff("ann") == BackoffCounter(0, T0 + 9, None)


def test_backoff_counters_keep_the_visit(store: Store) -> None:
    """The visit a counter is deduplicating reloads over survives the round trip."""
    counter = BackoffCounter(7, T0, None, visit_start=T0 + 5, visit_slots=7)
    store.save_backoff([("ann", counter, T0 + 5)])
    assert store.backoff("ann") == counter
    assert store.freshness("ann").backoff == counter
    store.save_backoff([("ann", BackoffCounter(0, T0 + 9, None), T0 + 9)])  # a positive signal resets
    assert store.backoff("ann") == BackoffCounter(0, T0 + 9, None) == store.freshness("ann").backoff


def test_freshness_reads_every_version_at_once(store: Store) -> None:
    fresh = store.freshness("ann")
    assert (fresh.catalog_version, fresh.person_version, fresh.promotions_version) == (0, None, 0)
    assert fresh.backoff == BackoffCounter()
    store.upsert_items([item("a")], T0)
    store.save_person(Person(id="ann"))
    store.insert_promotion(promotion("p1"), T0)
    store.save_backoff([("ann", BackoffCounter(3, T0, None), T0)])
    fresh = store.freshness("ann")
    _, _, version = store.load_person_state("ann")
    assert fresh.catalog_version == store.catalog_version() == 1
    assert fresh.person_version == version is not None
    assert fresh.promotions_version == 1 and fresh.backoff == BackoffCounter(3, T0, None)
    store.save_person(Person(id="ann", timezone="Europe/Paris"))
    assert store.freshness("ann").person_version == version + 1
    assert store.freshness("bob").person_version is None


# -- keys and audit --------------------------------------------------------------------------


def test_keys_insert_get_list_revoke(store: Store) -> None:
    assert store.get_key("k1") is None and store.list_keys() == []
    k1 = KeyRecord("k1", "web", "h" * 64, ("serve", "ingest"), None, T0)
    k2 = KeyRecord("k2", "ops", "g" * 64, ("admin",), 50.0, T0 + 1)
    store.insert_key(k2)
    store.insert_key(k1)
    assert store.get_key("k1") == k1 and store.get_key("k2") == k2
    assert [k.id for k in store.list_keys()] == ["k1", "k2"]  # by creation time
    revoked = store.revoke_key("k1", T0 + 5)
    assert revoked is not None and revoked.revoked_at == T0 + 5 and revoked.scopes == ("serve", "ingest")
    again = store.revoke_key("k1", T0 + 9)  # a revoked key keeps its first revocation time
    assert again is not None and again.revoked_at == T0 + 5
    assert store.revoke_key("nope", T0) is None
    assert [k.id for k in store.list_keys()] == ["k2"]
    assert [k.id for k in store.list_keys(include_revoked=True)] == ["k1", "k2"]


def test_token_generations_and_revoked_ids(store: Store) -> None:
    assert store.token_state("h:ann", "t1") == (0, False)
    assert store.bump_token_generation("h:ann", T0) == 1
    assert store.bump_token_generation("h:ann", T0 + 1) == 2
    assert store.token_state("h:ann", None) == (2, False) and store.token_state("h:bob", None) == (0, False)
    assert store.revoke_token("t1", "h:ann", T0 + 100, T0) is True
    assert store.revoke_token("t1", "h:ann", T0 + 100, T0 + 1) is False  # already revoked
    assert store.token_state("h:ann", "t1") == (2, True)
    assert store.token_state("h:bob", "t1") == (0, False)  # an id revokes only its own person's token
    store.revoke_token("t2", "h:bob", T0 + 500, T0 + 200)  # t1 has expired by now: its entry goes
    assert store.token_state("h:ann", "t1") == (2, False) and store.token_state("h:bob", "t2") == (0, True)


def test_audit_append_and_page_newest_first(store: Store) -> None:
    assert store.audit_records(10) == []
    for n in range(5):
        action = "key.create" if n % 2 else "person.export"
        store.append_audit(AuditRecord(T0 + n, f"actor{n}", action, None if n else "h:x", {"n": n, "l": [1]}))
    page = store.audit_records(3)
    assert [r.actor for r in page] == ["actor4", "actor3", "actor2"]
    assert page[0].at == T0 + 4 and page[0].action == "person.export"
    assert page[0].details == {"n": 4, "l": [1]}
    assert [r.seq for r in page] == sorted((r.seq for r in page), reverse=True)
    rest = store.audit_records(3, before=page[-1].seq)
    assert [r.actor for r in rest] == ["actor1", "actor0"] and rest[-1].subject == "h:x"
    assert [r.actor for r in store.audit_records(10, action="key.create")] == ["actor3", "actor1"]
    assert [r.actor for r in store.audit_records(10, before=page[0].seq, action="person.export")] == [
        "actor2",
        "actor0",
    ]


# -- privacy ---------------------------------------------------------------------------------


def test_export_returns_every_person_table(store: Store) -> None:
    populate_person(store, "ann")
    populate_person(store, "bob")
    tables = store.person_rows("ann")
    assert set(tables) == set(store.person_tables())
    assert all(tables[name] for name in store.person_tables()), {k: len(v) for k, v in tables.items()}
    assert all(row.get("user_id", row.get("id")) == "ann" for rows in tables.values() for row in rows)
    person = tables["persons"][0]
    assert person["timezone"] == "Europe/Paris" and person["muted"] == ["genre:folk"]  # JSON decoded
    assert isinstance(person["consent"], dict)
    assert [e["event_id"] for e in tables["events"]] == ["ann-e1"]
    assert {r["tag"] for r in tables["interests"]} == {"genre:jazz"}
    assert [r["item_id"] for r in tables["person_items"]] == ["a", "b"]
    assert tables["promotion_exposures"][0]["promotion_id"] == "p-export"
    assert tables["person_policy"][0]["ignored_slots"] == 2
    assert store.person_rows("nobody") == {name: [] for name in store.person_tables()}


def test_erasure_removes_every_person_row_in_one_transaction(store: Store) -> None:
    populate_person(store, "ann")
    populate_person(store, "bob")
    write_events(store, [event("ann", "a", T0 + 1, "ann-e2"), event("ann", None, T0 + 2, None, "search")])
    with store.unit_of_work() as uow:
        uow.save_item_stats([ItemStat("a", 5.0, 2.0, T0), ItemStat("gone", 1.0, 1.0, T0)])
    bob_before = store.person_rows("bob")
    version = store.catalog_version()

    with store.erasure("ann") as tx:
        events = tx.events()
        assert [e.event_id for e in events] == ["ann-e1", "ann-e2", None]
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        assert all(e.user_id == "ann" for e in events)
        assert tx.lock_item_stats(["a", "gone", "zzz"]) == {
            "a": ItemStat("a", 5.0, 2.0, T0),
            "gone": ItemStat("gone", 1.0, 1.0, T0),
        }
        tx.save_item_stats([ItemStat("a", 3.0, 1.5, T0)])
        tx.delete_item_stats(["gone"])
        rows = tx.erase_person_rows()
        tx.bump_catalog_version()
        tx.append_audit(AuditRecord(T0, "officer", "person.erase", "h:ann", {"rows": rows}))

    assert rows["events"] == 3 and rows["persons"] == 1 and set(rows) == set(store.person_tables())
    assert all(rows[name] >= 1 for name in store.person_tables())
    assert store.person_rows("ann") == {name: [] for name in store.person_tables()}
    assert store.person_rows("bob") == bob_before
    assert store.load_all_item_stats() == [ItemStat("a", 3.0, 1.5, T0)]
    assert store.catalog_version() == version + 1
    assert store.get_person("ann") is None and store.load_profile("ann") == Profile("ann")
    assert [e.user_id for b in store.iter_events() for e in b] == ["bob"]
    assert store.audit_records(1)[0].details == {"rows": rows}

    with store.erasure("ann") as tx:  # erasing again finds nothing
        assert tx.events() == [] and sum(tx.erase_person_rows().values()) == 0


def test_erasure_is_all_or_nothing(store: Store) -> None:
    populate_person(store, "ann")
    with store.unit_of_work() as uow:
        uow.save_item_stats([ItemStat("a", 5.0, 2.0, T0)])
    before = store.person_rows("ann")
    version = store.catalog_version()
    with pytest.raises(RuntimeError, match="boom"):
        with store.erasure("ann") as tx:
            tx.lock_item_stats(["a"])
            tx.save_item_stats([ItemStat("a", 1.0, 1.0, T0)])
            tx.erase_person_rows()
            tx.bump_catalog_version()
            tx.append_audit(AuditRecord(T0, "officer", "person.erase", None, {}))
            raise RuntimeError("boom")
    assert store.person_rows("ann") == before
    assert store.load_all_item_stats() == [ItemStat("a", 5.0, 2.0, T0)]
    assert store.catalog_version() == version and store.audit_records(10) == []


def test_buffered_writes_checked_against_tombstones_drop_what_an_erasure_preceded(store: Store) -> None:
    with store.erasure("ann") as tx:
        tx.add_tombstone("h:ann", T0, T0 - DAY)
    check = ErasureCheck({"ann": "h:ann", "bob": "h:bob"}, margin=5.0)
    served = [
        ServedList("r-before", "ann", "home", T0 - 60, ("a",)),
        ServedList("r-skew", "ann", "home", T0 + 5, ("a",)),  # within the margin: dropped too
        ServedList("r-after", "ann", "home", T0 + 6, ("a",)),  # served after the erasure: kept
        ServedList("r-bob", "bob", "home", T0 - 60, ("a",)),
    ]
    assert store.save_recommendations(served, check) == 2
    assert {r["id"] for r in store.person_rows("ann")["recommendations"]} == {"r-after"}
    assert [r["id"] for r in store.person_rows("bob")["recommendations"]] == ["r-bob"]
    counters = [("ann", BackoffCounter(3, T0, None), T0 - 1), ("bob", BackoffCounter(2, T0, None), T0 - 1)]
    assert store.save_backoff(counters, check) == 1
    assert store.backoff("ann") == BackoffCounter() and store.backoff("bob") == BackoffCounter(2, T0, None)
    store.record_served("ann", "r-late", [("p1", "a")], BackoffCounter(4, T0, None), T0, check)
    assert store.person_rows("ann")["promotion_exposures"] == [] and store.backoff("ann") == BackoffCounter()
    store.record_served("ann", "r-new", [("p1", "a")], None, T0 + 60, check)  # a later request counts
    assert len(store.person_rows("ann")["promotion_exposures"]) == 1
    # without a check (or for a subject never erased) nothing is dropped
    assert store.save_recommendations([ServedList("r-raw", "ann", "home", T0 - 60, ())]) == 1
    # a tombstone is a keyed hash and a time, and is forgotten after its keep period
    with store.erasure("cyd") as tx:
        tx.add_tombstone("h:cyd", T0 + 40 * DAY, T0 + 10 * DAY)
    assert store.count("erasures") == 1
    assert store.save_recommendations([ServedList("r-old", "ann", "home", T0 - 60, ())], check) == 1


def test_a_buffered_write_waits_for_an_erasure_in_progress(store: Store) -> None:
    """The check and the erasure exclude each other: the write, started while the erasure
    is open, sees its tombstone once it commits (never the state before it)."""
    import threading

    check = ErasureCheck({"ann": "h:ann"})
    done: list[int] = []
    with store.erasure("ann") as tx:
        tx.add_tombstone("h:ann", T0, T0 - DAY)
        late = [ServedList("r1", "ann", "home", T0, ())]
        writer = threading.Thread(target=lambda: done.append(store.save_recommendations(late, check)))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive()  # held back until the erasure commits
        tx.erase_person_rows()
    writer.join(timeout=30)
    assert done == [0] and store.person_rows("ann")["recommendations"] == []


def test_retention_drops_only_old_events_and_dry_run_drops_none(store: Store) -> None:
    events = [event("ann", None, T0 - 10 * DAY + n, f"old{n}", "search") for n in range(5)]
    events += [event("bob", None, T0 - DAY, "edge", "search"), event("ann", None, T0, "new", "search")]
    write_events(store, events)
    cutoff = T0 - DAY  # ``edge`` sits exactly on it and is kept

    dry = store.drop_events_before(cutoff, dry_run=True)
    assert (dry.deleted, dry.kept) == (5, 7) and store.count("events") == 7

    done = store.drop_events_before(cutoff)
    assert (done.deleted, done.kept) == (5, 2)
    assert sorted(e.event_id or "" for b in store.iter_events() for e in b) == ["edge", "new"]
    assert store.get_person("ann") is not None  # only raw events go
    again = store.drop_events_before(cutoff)
    assert (again.deleted, again.kept) == (0, 2)


# -- messages --------------------------------------------------------------------------------


def test_message_prefs_read_modify_write_and_iteration(store: Store) -> None:
    store.save_person(Person(id="ann", timezone="Europe/Paris"))
    assert store.load_message_prefs(["ann"]) == {}
    chosen = MessagePreferences(channels=[Channel.email], email="ann@example.com")
    stored = store.update_message_prefs("ann", lambda cur: (chosen, cur.state), T0)
    assert stored.prefs == chosen and stored.person_zone == "Europe/Paris" and stored.last_period is None
    bumped = store.update_message_prefs(
        "ann", lambda cur: (cur.prefs, cur.state.model_copy(update={"ignored": cur.state.ignored + 1})), T0
    )
    assert bumped.state.ignored == 1
    store.update_message_prefs("bob", lambda cur: (cur.prefs, cur.state), T0)  # no channel: not iterated
    bulk = [StoredPreferences(f"z{k}", chosen, MessageState(ignored=k), "d1", "UTC") for k in range(3)]
    store.put_message_prefs(bulk, T0)
    store.put_message_prefs(bulk[:1], T0)  # replaces
    assert store.load_message_prefs(["z0", "z1", "z2"]) == {s.user_id: s for s in bulk}
    assert store.load_message_prefs(["ann", "bob"])["bob"].person_zone == "UTC"
    batches = [[s.user_id for s in batch] for batch in store.iter_message_prefs(batch_size=2)]
    assert batches == [["ann"], ["z0", "z1"], ["z2"]]


def test_enqueue_is_idempotent_by_key_and_decides_under_lock(store: Store) -> None:
    store.update_message_prefs("ann", lambda cur: (cur.prefs, cur.state), T0)
    seen: list[dict[str, list[object]]] = []

    def decide(history: dict[str, list[object]]) -> list[OutboxMessage]:
        seen.append(history)  # type: ignore[arg-type]
        return [outbox_message("ann", Channel.email, "d1"), outbox_message("ann", Channel.push, "d1")]

    first = store.enqueue_messages(["ann"], 739_990, decide, {"ann": "d1"})  # type: ignore[arg-type]
    assert [m.channel for m in first] == [Channel.email, Channel.push]
    assert store.load_message_prefs(["ann"])["ann"].last_period == "d1"
    again = store.enqueue_messages(["ann"], 739_990, decide, {"ann": "d1"})  # type: ignore[arg-type]
    assert again == [] and len(store.list_messages("ann")) == 2
    counted = [(h.channel, h.local_day) for h in seen[1]["ann"]]  # type: ignore[attr-defined]
    assert counted == [(Channel.email, 740_000), (Channel.push, 740_000)]
    assert store.enqueue_messages(["ann"], 740_001, lambda h: [], {}) == []  # history window by local day
    assert store.message_counts() == {"queued": 2}


def test_one_message_is_queued_once_by_key_and_required_ones_are_not_counted(store: Store) -> None:
    store.update_message_prefs("ann", lambda cur: (cur.prefs, cur.state), T0)
    reset = outbox_message("ann", Channel.email, "r:reset-1").model_copy(
        update={"kind": "required", "items": [], "subject": "Reset", "text": "code"}
    )
    stored, added = store.enqueue_message(reset)
    assert added and stored == reset
    again, added_again = store.enqueue_message(reset.model_copy(update={"id": "m-other", "text": "x"}))
    assert not added_again and again == reset
    digest = outbox_message("ann", Channel.email, "d1")
    seen: list[dict[str, list[object]]] = []
    store.enqueue_messages(["ann"], 0, lambda h: seen.append(h) or [digest], {})  # type: ignore[arg-type,func-returns-value]
    assert seen == [{"ann": []}]  # the required message does not count against caps
    assert [m.id for m in store.messages_since(["ann"], 0)["ann"]] == [digest.id]
    assert {m.id for m in store.list_messages("ann")} == {reset.id, digest.id}
    assert {m.id for m in store.claim_messages(T0, 10, 300.0)} == {reset.id, digest.id}


def test_claim_leases_and_save_and_cancel(store: Store) -> None:
    store.update_message_prefs("ann", lambda cur: (cur.prefs, cur.state), T0)
    msgs = [outbox_message("ann", Channel.email, "d1"), outbox_message("ann", Channel.push, "d1")]
    store.enqueue_messages(["ann"], 0, lambda h: msgs, {})
    claimed = store.claim_messages(T0, 10, 300.0)
    assert {m.id for m in claimed} == {m.id for m in msgs}
    assert store.claim_messages(T0 + 1, 10, 300.0) == []  # leased
    assert len(store.claim_messages(T0 + 301, 10, 300.0)) == 2  # the lease ran out
    sent = claimed[0].model_copy(update={"status": OutboxStatus.sent, "attempts": 1})
    store.save_message(sent)
    assert store.get_message(sent.id) == sent
    assert store.cancel_queued("ann", "unsubscribed") == 1
    assert store.message_counts() == {"sent": 1, "cancelled": 1}
    assert [m.status for m in store.list_messages("ann", status="cancelled")] == [OutboxStatus.cancelled]
    assert store.get_message("nope") is None


# -- experiments -----------------------------------------------------------------------------


def _experiment(exp_id: str, namespace: str | None = None) -> Experiment:
    spec = ExperimentSpec(
        id=exp_id,
        name=f"exp {exp_id}",
        namespace=namespace,
        variants=[VariantSpec(name="control"), VariantSpec(name="b")],
    )
    return Experiment(spec=spec, created_at=from_epoch(T0), updated_at=from_epoch(T0))


def test_experiments_are_stored_and_changed_by_compare_and_set(store: Store) -> None:
    store.insert_experiment(_experiment("e2", "ns"))
    store.insert_experiment(_experiment("e1"))
    with pytest.raises(Conflict):
        store.insert_experiment(_experiment("e1"))
    assert [e.id for e in store.list_experiments()] == ["e1", "e2"]
    assert [e.id for e in store.list_experiments("ns")] == ["e2"]
    current = store.get_experiment("e1")
    assert current is not None and current.status is Status.draft
    moved = current.model_copy(update={"status": Status.running, "percent": 5.0, "version": 1})
    assert store.update_experiment(moved, expected_version=0)
    assert not store.update_experiment(moved.model_copy(update={"version": 2}), expected_version=0)  # stale
    assert store.get_experiment("e1") == moved
    assert store.get_experiment("nope") is None


def test_exposures_are_kept_once_and_events_attributed_within_the_window(store: Store) -> None:
    x = [
        ExposureRecord("e1", "ann", "b", T0, "home", "r1"),
        ExposureRecord("e1", "bob", "control", T0, "home", "r3"),
    ]
    served = [
        ExperimentServedRecord("r1", "e1", "ann", "b", T0, 4),
        ExperimentServedRecord("r2", "e1", "ann", "b", T0 + 100, 4),
        ExperimentServedRecord("r3", "e1", "bob", "control", T0, 2),
    ]
    assert store.save_exposures(x, served) == 2
    # a second worker sends the same exposure later and one list again: nothing doubles
    assert store.save_exposures([ExposureRecord("e1", "ann", "b", T0 + 50, "home", "r2")], served[1:2]) == 0
    write_events(
        store,
        [
            event("ann", "a", T0 - 10, "pre"),  # before exposure: only the CUPED covariate
            Event(
                user_id="ann", item_id="a", type="click", recommendation_id="r1", timestamp=from_epoch(T0 + 5)
            ),
            Event(
                user_id="ann",
                item_id="a",
                type="like",
                recommendation_id="r2",
                timestamp=from_epoch(T0 + 200),
            ),
            Event(
                user_id="ann",
                item_id="a",
                type="click",
                recommendation_id="r1",
                timestamp=from_epoch(T0 + 7200),
            ),
            Event(
                user_id="bob", item_id="a", type="click", recommendation_id="r1", timestamp=from_epoch(T0 + 5)
            ),
            Event(
                user_id="bob", item_id="a", type="view", recommendation_id="r3", timestamp=from_epoch(T0 + 5)
            ),
        ],
    )
    data = store.experiment_data("e1", 3600.0, ["click", "like"], until=T0 + 10_000, prior=True)
    assert sorted(data.exposures) == [("ann", "b", T0), ("bob", "control", T0)]
    assert sorted(data.served) == [("ann", T0, 4), ("ann", T0 + 100, 4), ("bob", T0, 2)]
    # the late click is outside the hour; bob's click names ann's list; views are not asked for
    assert sorted(data.events) == [("ann", "click", T0 + 5), ("ann", "like", T0 + 200)]
    assert data.prior == {"ann": 1.0}
    assert sorted(store.experiment_data("e1", 3600.0, ["click"], until=T0 + 50).served) == [
        ("ann", T0, 4),
        ("bob", T0, 2),
    ]


def test_experiment_rows_of_an_erased_person_are_dropped_from_a_late_write(store: Store) -> None:
    populate_person(store, "ann")
    with store.erasure("ann") as tx:
        tx.erase_person_rows()
        tx.add_tombstone("h:ann", T0 + 10, T0 - DAY)
    check = ErasureCheck({"ann": "h:ann", "bob": "h:bob"})
    late = [
        ExposureRecord("e9", "ann", "b", T0 + 5, "home", "r9"),
        ExposureRecord("e9", "bob", "b", T0 + 5, "home", "r8"),
    ]
    served = [ExperimentServedRecord("r9", "e9", "ann", "b", T0 + 5, 1)]
    assert store.save_exposures(late, served, check=check) == 1
    assert store.person_rows("ann")["experiment_exposures"] == []
    assert store.person_rows("ann")["experiment_served"] == []
    assert [r["experiment_id"] for r in store.person_rows("bob")["experiment_exposures"]] == ["e9"]


# -- one item's events, deleting events, activity (undo and the dashboard) --------------------


def test_item_events_are_one_persons_events_on_one_item_oldest_first(store: Store) -> None:
    from tactful.domain.event import EventContext

    later = event("u1", "a", T0 + 50, "late", "dislike", provenance=Provenance.explicit)
    early = event("u1", "a", T0, "early", "play", value=120.0).model_copy(
        update={"context": EventContext(session="s-1", category="genre:jazz")}
    )
    write_events(store, [later, early, event("u2", "a", T0, "other"), event("u1", "b", T0, "elsewhere")])
    with store.unit_of_work() as uow:
        found = uow.item_events("u1", "a")
    assert [e.event_id for e in found] == ["early", "late"]
    assert found[0].value == 120.0 and found[1].provenance == "explicit"
    assert found[0].context is not None and '"session":"s-1"' in found[0].context
    assert found[1].context is None


def test_delete_events_removes_only_that_persons_events(store: Store) -> None:
    write_events(store, [event("u1", "a", T0, "x"), event("u1", "a", T0 + 1, "y"), event("u2", "a", T0, "x")])
    with store.unit_of_work() as uow:
        mine = uow.item_events("u1", "a")
        theirs = uow.item_events("u2", "a")
        assert uow.delete_events("u1", [mine[0].seq, theirs[0].seq]) == 1  # not u2's, given by seq
    with store.unit_of_work() as uow:
        assert [e.event_id for e in uow.item_events("u1", "a")] == ["y"]
        assert [e.event_id for e in uow.item_events("u2", "a")] == ["x"]
    # the id is free again for this person (an undone event can be sent anew)
    write_events(store, [event("u1", "a", T0 + 2, "x")])
    assert store.count("events") == 3


def test_activity_counts_per_bucket_type_and_people(store: Store) -> None:
    events = [
        event("u1", "a", T0 + 0.5, "1", "like"),
        event("u2", "a", T0 + 59.9, "2", "dislike"),
        event("u1", "b", T0 + 60.0, "3", "like"),
        event("u3", "b", T0 + 179.0, "4", "play", value=100.0),
        event("u4", "b", T0 + 180.0, "5", "play", value=100.0),  # at `until`: outside
        event("u5", "b", T0 - 0.1, "6", "play", value=100.0),  # before `since`: outside
    ]
    write_events(store, events)
    seen = store.activity(T0, T0 + 180, 60)
    assert seen.buckets == [2, 1, 1]
    assert seen.by_type == {"like": 2, "dislike": 1, "play": 1}
    assert seen.active_people == 3
    assert store.activity(T0 + 1000, T0 + 1090, 60).buckets == [0, 0]
