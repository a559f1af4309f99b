"""Property tests: the respect invariants hold over random event sequences (all must be 0)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful import Consent, Engine, Event, Item, ManualClock, Settings, TagMeta
from tactful.config.security import AuthSettings
from tactful.domain.recommendation import Recommendations
from tactful.signals.profile import DAY
from tests.conftest import media_items

CAP, WINDOW_DAYS, THRESHOLD, RETARGET_DAYS = 2, 7.0, 3, 30.0
SENSITIVE = [f"baby-{k}" for k in range(3)]
ITEMS = [i.id for i in media_items()] + SENSITIVE
TAGS = ["genre:jazz", "genre:rock", "genre:folk", "topic:pregnancy"]
POSITIVE = {"like", "click", "view", "save"}
_users = itertools.count()

action = st.one_of(
    st.tuples(
        st.sampled_from(["like", "click", "view", "dislike", "dismiss", "impression"]), st.sampled_from(ITEMS)
    ),
    st.tuples(st.just("advance"), st.integers(0, 20)),
    st.tuples(st.sampled_from(["mute", "unmute"]), st.sampled_from(TAGS)),
    st.tuples(st.just("opt_in"), st.booleans()),
    st.tuples(st.just("recommend"), st.sampled_from(["home", "item_page", "email_digest"])),
)
sequences = st.lists(action, min_size=4, max_size=40)


@dataclass
class Trace:
    """What the test knows independently of the engine, next to every list served."""

    engine: Engine
    clock: ManualClock
    user: str
    tags: dict[str, list[str]]
    disliked: set[str] = field(default_factory=set)
    muted: set[str] = field(default_factory=set)
    opted_in: bool = False
    positive_days: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    last_positive: dict[str, float] = field(default_factory=dict)
    placements: list[float] = field(default_factory=list)
    served: list[
        tuple[Recommendations, float, set[str], set[str], bool, dict[str, int], dict[str, float]]
    ] = field(default_factory=list)

    def run(self, actions: list[tuple[str, object]]) -> None:
        for kind, arg in actions:
            now = self.clock.now().timestamp()
            if kind == "advance":
                self.clock.advance(days=float(arg))  # type: ignore[arg-type]
            elif kind == "mute":
                self.engine.mute_topic(self.user, str(arg))
                self.muted.add(str(arg))
                self.positive_days.pop(str(arg), None)
                self.last_positive.pop(str(arg), None)
            elif kind == "unmute":
                self.engine.unmute_topic(self.user, str(arg))
                self.muted.discard(str(arg))
            elif kind == "opt_in":
                self.opted_in = bool(arg)
                self.engine.set_consent(self.user, Consent(sensitive_opt_in=["pregnancy"] if arg else []))
            elif kind == "recommend":
                recs = self.engine.recommend(self.user, surface=str(arg), n=8)
                evidence = {t: len(d) for t, d in self.positive_days.items()}
                self.served.append(
                    (
                        recs,
                        now,
                        set(self.disliked),
                        set(self.muted),
                        self.opted_in,
                        evidence,
                        dict(self.last_positive),
                    )
                )
            else:
                item = str(arg)
                self.engine.ingest([Event(user_id=self.user, item_id=item, type=kind)])
                if kind in ("dislike", "dismiss"):
                    self.disliked.add(item)
                if kind in POSITIVE:
                    for tag in self.tags[item]:
                        self.positive_days[tag].add(int(now // DAY))
                        self.last_positive[tag] = now


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, ManualClock]]:
    clock = ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    settings = Settings(data_dir=tmp_path_factory.mktemp("inv"), auth=AuthSettings(enabled=False))
    with Engine(settings, clock=clock) as engine:
        items = media_items() + [
            Item(id=i, title="Expecting", tags=["topic:pregnancy", "genre:folk"], sensitive=["pregnancy"])
            for i in SENSITIVE
        ]
        engine.upsert_items(items)
        engine.declare_tags([TagMeta(tag="topic:pregnancy", sensitive_category="pregnancy")])
        engine.ingest([Event(user_id=f"crowd-{u}", item_id=i, type="click") for u in range(6) for i in ITEMS])
        engine.create_promotion(
            {"id": "folk", "tags": ["genre:folk"], "cap": CAP, "window_days": WINDOW_DAYS}
        )
        yield engine, clock


def play(world: tuple[Engine, ManualClock], actions: list[tuple[str, object]]) -> Trace:
    engine, clock = world
    tags = {i: engine.get_item(i).tags for i in ITEMS}
    trace = Trace(engine, clock, f"prop-{next(_users)}", tags)
    trace.run(actions + [("recommend", "home")])
    return trace


SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(sequences)
def test_disliked_never_returns(world: tuple[Engine, ManualClock], actions: list[tuple[str, object]]) -> None:
    for recs, _, disliked, *_ in play(world, actions).served:
        assert not disliked & {i.item_id for i in recs.items}


@SETTINGS
@given(sequences)
def test_sensitive_never_shown_without_opt_in(
    world: tuple[Engine, ManualClock], actions: list[tuple[str, object]]
) -> None:
    for recs, _, _, _, opted_in, *_ in play(world, actions).served:
        if not opted_in:
            assert not set(SENSITIVE) & {i.item_id for i in recs.items}
            assert all(r.tag != "topic:pregnancy" for i in recs.items for r in i.reasons)


@SETTINGS
@given(sequences)
def test_muted_never_shown_after_mute(
    world: tuple[Engine, ManualClock], actions: list[tuple[str, object]]
) -> None:
    for recs, _, _, muted, *_ in play(world, actions).served:
        assert all(not muted & set(i.tags) for i in recs.items)


@SETTINGS
@given(sequences)
def test_promotion_caps_never_exceeded(
    world: tuple[Engine, ManualClock], actions: list[tuple[str, object]]
) -> None:
    placements: list[float] = []
    for recs, now, *_ in play(world, actions).served:
        placements += [now for i in recs.items if any(r.code == "promoted" for r in i.reasons)]
        assert sum(1 for t in placements if t > now - WINDOW_DAYS * DAY) <= CAP


@SETTINGS
@given(sequences)
def test_no_retargeting_after_the_window(
    world: tuple[Engine, ManualClock], actions: list[tuple[str, object]]
) -> None:
    for recs, now, *_, last in play(world, actions).served:
        for reason in (r for i in recs.items for r in i.reasons if r.code == "matches_interest"):
            assert reason.tag in last and now - last[reason.tag] <= RETARGET_DAYS * DAY


@SETTINGS
@given(sequences)
def test_no_interest_acted_on_before_it_is_established(
    world: tuple[Engine, ManualClock], actions: list[tuple[str, object]]
) -> None:
    for recs, *_, evidence, _ in play(world, actions).served:
        for reason in (r for i in recs.items for r in i.reasons if r.code == "matches_interest"):
            assert evidence.get(reason.tag or "", 0) >= THRESHOLD
