from __future__ import annotations

from datetime import timedelta

import pytest

from tactful import Engine, Event, Item, ManualClock, Person, Settings
from tactful.domain.person import Consent
from tactful.errors import BatchTooLarge, NotFound, UnknownItem, ValidationError


def plays(user: str, items: list[str], clock: ManualClock, days: int = 4) -> list[Event]:
    """Likes spread over several days so interests become established."""
    out = []
    for k, item in enumerate(items):
        out.append(
            Event(user_id=user, item_id=item, type="like", timestamp=clock.now() - timedelta(days=k % days))
        )
    return out


def crowd(engine: Engine) -> None:
    """Other people make rock items popular."""
    events = [
        Event(user_id=f"crowd-{u}", item_id=f"rock-{k}", type="click") for u in range(20) for k in range(8)
    ]
    engine.ingest(events)


def ids(recs) -> list[str]:
    return [i.item_id for i in recs.items]


def test_dislike_vanishes_from_the_very_next_response(catalog_engine: Engine) -> None:
    crowd(catalog_engine)
    first = catalog_engine.recommend("alice", n=5)
    target = first.items[0].item_id
    catalog_engine.ingest([Event(user_id="alice", item_id=target, type="dislike")])
    after = catalog_engine.recommend("alice", n=30)
    assert target not in ids(after)


def test_dislike_demotes_items_sharing_its_tags(catalog_engine: Engine) -> None:
    crowd(catalog_engine)
    before = catalog_engine.recommend("bob", n=24, explain=True)
    before_score = {i.item_id: i.score for i in before.items}
    catalog_engine.ingest([Event(user_id="bob", item_id="rock-0", type="dislike")])
    after = catalog_engine.recommend("bob", n=24, explain=True)
    after_items = {i.item_id: i for i in after.items}
    order = [i.item_id for i in after.items]
    # rock-3 and rock-6 share creator rock-artist-0 with rock-0: demoted most, with a reason
    for sibling in ("rock-3", "rock-6"):
        assert after_items[sibling].score < 0.6 * before_score[sibling]
        assert order.index(sibling) > order.index("rock-1")  # rock-1 shares only the genre
        codes = {r.code for r in after_items[sibling].reasons}
        assert "similar_to_disliked" in codes
    assert after_items["rock-1"].score < before_score["rock-1"]
    assert after_items["jazz-1"].score == pytest.approx(before_score["jazz-1"])
    assert after.excluded is not None
    assert any(x.item_id == "rock-0" and x.rule == "disliked" for x in after.excluded)


def test_new_and_engaged_people_get_visibly_different_blends(
    catalog_engine: Engine, clock: ManualClock
) -> None:
    crowd(catalog_engine)
    fan = [f"jazz-{k}" for k in range(6)]
    catalog_engine.ingest(plays("fan", fan, clock, days=6))
    for k in range(12):
        catalog_engine.ingest(
            [
                Event(
                    user_id="fan",
                    item_id="folk-1",
                    type="view",
                    timestamp=clock.now() - timedelta(days=k % 5, minutes=k),
                )
            ]
        )
    new = catalog_engine.recommend("stranger", n=6)
    engaged = catalog_engine.recommend("fan", n=6)
    assert new.engagement == "new" and engaged.engagement == "engaged"
    assert all(i.item_id.startswith("rock") for i in new.items)  # popular, no guesses
    assert {r.code for i in new.items for r in i.reasons} <= {"popular", "trending"}
    assert sum(i.item_id.startswith("jazz") for i in engaged.items) >= 1
    assert any(
        r.code == "matches_interest" and r.tag == "genre:jazz" for i in engaged.items for r in i.reasons
    )


def test_interest_reason_carries_evidence_and_provenance(catalog_engine: Engine, clock: ManualClock) -> None:
    catalog_engine.ingest(plays("eve", ["jazz-0", "jazz-1", "jazz-2", "jazz-4"], clock, days=4))
    recs = catalog_engine.recommend("eve", n=3)
    reason = next(r for i in recs.items for r in i.reasons if r.code == "matches_interest")
    assert reason.tag == "genre:jazz" and reason.evidence >= 3 and reason.provenance == ["explicit"]


def test_consumed_items_are_excluded(catalog_engine: Engine) -> None:
    crowd(catalog_engine)
    catalog_engine.ingest([Event(user_id="carl", item_id="rock-1", type="purchase")])
    assert "rock-1" not in ids(catalog_engine.recommend("carl", n=24))


def test_consent_off_gives_general_content(catalog_engine: Engine, clock: ManualClock) -> None:
    crowd(catalog_engine)
    catalog_engine.ingest(plays("dora", [f"jazz-{k}" for k in range(8)], clock))
    catalog_engine.save_person(Person(id="dora", consent=Consent(personalization=False)))
    recs = catalog_engine.recommend("dora", n=5)
    assert recs.engagement == "new"
    assert all(i.item_id.startswith("rock") for i in recs.items)


def test_expired_items_are_not_shown(catalog_engine: Engine, clock: ManualClock) -> None:
    item = Item(
        id="gone",
        title="Gone",
        tags=["genre:rock"],
        attributes={"expires_at": clock.now() - timedelta(hours=1)},
    )
    catalog_engine.upsert_items([item])
    catalog_engine.ingest([Event(user_id=f"x{k}", item_id="gone", type="like") for k in range(20)])
    assert "gone" not in ids(catalog_engine.recommend("someone", n=24))


def test_batch_is_all_or_nothing(catalog_engine: Engine) -> None:
    good = Event(user_id="u", item_id="jazz-1", type="like")
    bad = Event(user_id="u", item_id="missing", type="like")
    with pytest.raises(UnknownItem) as err:
        catalog_engine.ingest([good, bad])
    assert err.value.field == "events[1].item_id"
    assert catalog_engine.store.count("events") == 0
    assert catalog_engine.profile("u").interests == []


def test_event_ids_make_ingest_idempotent(catalog_engine: Engine) -> None:
    e = Event(id="evt-1", user_id="u", item_id="jazz-1", type="like")
    assert catalog_engine.ingest([e, e]).accepted == 1
    again = catalog_engine.ingest([e])
    assert (again.accepted, again.duplicates) == (0, 1)
    assert catalog_engine.profile("u").positive_signals == 1


def test_limits_and_bad_input(catalog_engine: Engine, settings: Settings, clock: ManualClock) -> None:
    with Engine(settings.model_copy(update={"max_batch_events": 3}), clock=clock) as small:
        with pytest.raises(BatchTooLarge):
            small.ingest([Event(user_id="u", item_id="jazz-1", type="view")] * 4)
    with pytest.raises(ValidationError) as err:
        catalog_engine.ingest(
            [Event(user_id="u", item_id="jazz-1", type="view", timestamp=clock.now() + timedelta(days=9))]
        )
    assert err.value.field == "event.timestamp"
    with pytest.raises(ValidationError):
        catalog_engine.ingest([Event(user_id="u", type="like")])
    with pytest.raises(ValidationError):
        catalog_engine.recommend("u", n=0)
    with pytest.raises(NotFound):
        catalog_engine.similar("nope")


def test_similar_and_popular(catalog_engine: Engine) -> None:
    crowd(catalog_engine)
    similar = catalog_engine.similar("jazz-0", n=3)
    assert all(i.item_id.startswith("jazz") for i in similar)
    assert similar[0].reasons[0].code == "similar_item"
    popular = catalog_engine.popular(n=3)
    assert all(i.item_id.startswith("rock") for i in popular)
    assert catalog_engine.popular(n=3, kind="trending")[0].reasons[0].code == "trending"


def test_catalog_changes_are_seen_by_another_engine(settings, clock) -> None:
    with Engine(settings, clock=clock) as a, Engine(settings, clock=clock) as b:
        a.upsert_items([Item(id="one", tags=["genre:x"])])
        assert b.catalog().index.keys() == {"one"}
        a.upsert_items([Item(id="two", tags=["genre:x"])])
        assert set(b.catalog().index) == {"one", "two"}
        b.ingest([Event(user_id="p", item_id="one", type="dislike")])
        assert "one" not in ids(a.recommend("p", n=5))


def test_erased_person_is_never_served_from_another_workers_cache(settings, clock) -> None:
    with Engine(settings, clock=clock) as a, Engine(settings, clock=clock) as b:
        a.upsert_items([Item(id="one", tags=["genre:x"]), Item(id="two", tags=["genre:y"])])
        b.ingest([Event(user_id="p", item_id="one", type="like")])
        assert {i.tag for i in a.profile("p").interests} == {"genre:x"}  # a caches p
        b.erase_person("p")
        b.ingest([Event(user_id="p", item_id="two", type="like")])  # same version count again
        assert {i.tag for i in a.profile("p").interests} == {"genre:y"}
