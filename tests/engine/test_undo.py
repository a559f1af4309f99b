"""Undoing a thumbs-down takes the signal back whole: the person is as if it never came."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful import Engine, Event, ManualClock, Settings
from tactful.domain.event import EventContext
from tactful.errors import UnknownItem, ValidationError
from tests.conftest import media_items

ITEMS = [i.id for i in media_items()]


def _engine(path: Path, clock: ManualClock) -> Engine:
    engine = Engine(Settings(data_dir=path), clock=clock)
    engine.upsert_items(media_items())
    return engine


def _snapshot(engine: Engine, user: str) -> tuple[object, ...]:
    view = engine.profile(user)
    interests = sorted(
        (i.tag, round(i.score, 9), i.evidence, i.established, i.last_positive) for i in view.interests
    )
    recs = engine.preview(user, n=8)
    return (
        interests,
        view.positive_signals,
        view.active_days,
        view.disliked_items,
        view.consumed_items,
        [r.item_id for r in recs.items],
    )


def test_undo_restores_the_list_and_profile_of_someone_who_never_disliked(
    tmp_path: Path, clock: ManualClock
) -> None:
    with _engine(tmp_path / "a", clock) as a, _engine(tmp_path / "b", clock) as b:
        history = [
            Event(user_id="ann", item_id="jazz-1", type="like", context=EventContext(session="s1")),
            Event(user_id="ann", item_id="rock-2", type="play", value=200.0),
        ]
        for engine in (a, b):
            engine.ingest(history)
        target = next(r.item_id for r in a.preview("ann", n=5).items if r.item_id not in {"jazz-1", "rock-2"})
        a.ingest([Event(id="no-1", user_id="ann", item_id=target, type="dislike")])
        assert target in a.profile("ann").disliked_items
        assert target not in [r.item_id for r in a.preview("ann", n=20).items]

        undone = a.undo_dislike("ann", target)
        assert (undone.removed, undone.replayed) == (1, 0)
        assert _snapshot(a, "ann") == _snapshot(b, "ann")
        assert target in [r.item_id for r in a.preview("ann", n=5).items]
        # nothing left to undo: nothing changes
        assert a.undo_dislike("ann", target).removed == 0
        assert _snapshot(a, "ann") == _snapshot(b, "ann")
        # the event is gone from the log, so its id may be sent again
        a.ingest([Event(id="no-1", user_id="ann", item_id=target, type="dislike")])
        assert target in a.profile("ann").disliked_items


def test_undo_keeps_the_other_signals_on_the_item(tmp_path: Path, clock: ManualClock) -> None:
    with _engine(tmp_path / "a", clock) as a, _engine(tmp_path / "b", clock) as b:
        played = Event(
            user_id="bo", item_id="jazz-2", type="play", value=240.0, context=EventContext(session="x")
        )
        for engine in (a, b):
            engine.ingest([played])
        clock.advance(seconds=60)
        a.ingest([Event(user_id="bo", item_id="jazz-2", type="dislike")])
        assert a.undo_dislike("bo", "jazz-2").replayed == 1
        assert _snapshot(a, "bo") == _snapshot(b, "bo")


def test_undo_refuses_what_is_not_a_thumbs_down(tmp_path: Path, clock: ManualClock) -> None:
    with _engine(tmp_path / "a", clock) as a:
        with pytest.raises(ValidationError):
            a.undo_dislike("ann", "jazz-1", types=["like"])
        with pytest.raises(UnknownItem):
            a.undo_dislike("ann", "no-such-item")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    story=st.lists(
        st.tuples(st.sampled_from(ITEMS), st.sampled_from(["like", "play", "skip", "save", "dislike"])),
        min_size=1,
        max_size=12,
    ),
    undo=st.sampled_from(ITEMS),
)
def test_undo_equals_a_history_without_the_dislikes(
    tmp_path_factory: pytest.TempPathFactory, story: list[tuple[str, str]], undo: str
) -> None:
    """Any history; undoing the dislikes of one item equals never having sent them."""
    clock = ManualClock()
    root = tmp_path_factory.mktemp("undo")
    with _engine(root / "a", clock) as a, _engine(root / "b", clock) as b:
        for n, (item, kind) in enumerate(story):
            event = Event(
                user_id="p",
                item_id=item,
                type=kind,
                value=200.0 if kind == "play" else None,
                context=EventContext(session=f"s{n % 3}"),
            )
            a.ingest([event])
            if not (item == undo and kind == "dislike"):
                b.ingest([event])
            clock.advance(seconds=3600 * 7)
        a.undo_dislike("p", undo)
        assert _snapshot(a, "p") == _snapshot(b, "p")


def test_undo_over_http_with_the_persons_own_token(tmp_path: Path, clock: ManualClock) -> None:
    from fastapi.testclient import TestClient

    from tactful.config.security import AuthSettings
    from tactful.web.site import create_site

    settings = Settings(data_dir=tmp_path / "h", auth=AuthSettings(enabled=True))
    with Engine(settings, clock=clock) as engine:
        engine.upsert_items(media_items())
        engine.ingest([Event(user_id="ann", item_id="jazz-1", type="dislike")])
        client = TestClient(create_site(engine))
        own = {"Authorization": f"Bearer {engine.issue_user_token('ann')}"}
        other = {"Authorization": f"Bearer {engine.issue_user_token('bob')}"}
        assert client.post("/v1/users/ann/undo", json={"item_id": "jazz-1"}, headers=other).status_code == 403
        done = client.post(
            "/v1/users/ann/undo", json={"item_id": "jazz-1", "types": ["dislike"]}, headers=own
        )
        assert done.status_code == 200 and done.json()["removed"] == 1
        assert engine.profile("ann").disliked_items == []
        bad = client.post("/v1/users/ann/undo", json={"item_id": "jazz-1", "types": ["like"]}, headers=own)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "types"
