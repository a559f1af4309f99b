"""The planner end to end: composition, deferral, caps, idempotency, unsubscribe, feedback, back-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tactful import Engine, ManualClock
from tactful.domain.event import Event
from tactful.domain.person import Consent
from tactful.errors import Conflict, ValidationError
from tests.messaging.conftest import Recorder, subscribe


def test_preferences_show_required_topics_locked_with_reason(engine: Engine) -> None:
    view = engine.message_preferences("ann")
    account = next(t for t in view.topics if t.id == "account")
    assert (
        account.locked
        and account.state == "required"
        and account.reason == "Security notices must reach you."
    )
    assert view.channels == [] and view.timezone == "UTC" and view.timezone_is_person_default
    with pytest.raises(Conflict, match="Security notices"):
        engine.update_message_preferences("ann", {"topics": {"account": "opted_out"}})
    with pytest.raises(Conflict):
        engine.unsubscribe("ann", "account")
    with pytest.raises(ValidationError):
        engine.update_message_preferences("ann", {"topics": {"nope": "opted_in"}})
    with pytest.raises(ValidationError):
        engine.update_message_preferences("ann", {"window": {"start": "25:00", "end": "01:00"}})
    with pytest.raises(ValidationError):
        engine.update_message_preferences("ann", {"paused_until": "2026-03-01T00:00:00"})  # no zone
    with pytest.raises(ValidationError):
        engine.update_message_preferences("ann", {"caps": [{"count": 1, "days": 31}]})
    assert engine.message_preferences("ann").channels == []  # nothing changed


def test_no_channel_chosen_means_no_message(engine: Engine) -> None:
    engine.update_message_preferences("bob", {"topics": {"jazz": "opted_in"}, "cadence": {"kind": "daily"}})
    assert engine.plan_messages().due == 0 and engine.outbox() == []


def test_general_digest_for_a_new_person_is_labelled_and_restricted_to_topics(engine: Engine) -> None:
    subscribe(engine)
    report = engine.plan_messages()
    assert report.counts == {"planned": 1}
    [message] = engine.outbox("ann")
    assert message.kind == "general" and any("general digest" in n for n in message.notes)
    assert message.items and all(i.item_id != "sens" for i in message.items)
    catalog = engine.catalog()
    assert all("genre:jazz" in catalog.items[catalog.index[i.item_id]].tags for i in message.items)
    assert message.topics == ["jazz"] and message.key == "ann|email|d2026-03-02"


def _establish(engine: Engine, clock: ManualClock, user: str, tag_items: list[str]) -> None:
    for day in range(4):
        for k, item in enumerate(tag_items):
            engine.ingest(
                [
                    Event(
                        id=f"{user}-{day}-{k}",
                        user_id=user,
                        item_id=item,
                        type="like",
                        timestamp=clock.now() - timedelta(days=10 - day),
                    )
                ]
            )
    for day in range(16):
        engine.ingest(
            [
                Event(
                    id=f"{user}-extra-{day}",
                    user_id=user,
                    item_id=tag_items[day % len(tag_items)],
                    type="view",
                    timestamp=clock.now() - timedelta(days=5, hours=day),
                )
            ]
        )


def test_personal_digest_driven_by_established_interests_never_sensitive_disliked_or_muted(
    engine: Engine, clock: ManualClock
) -> None:
    _establish(engine, clock, "ann", ["i0", "i3", "i6", "i9"])  # jazz items
    engine.ingest([Event(id="d1", user_id="ann", item_id="i12", type="dislike")])
    engine.mute_topic("ann", "creator:c1")
    subscribe(engine, topics={"jazz": "opted_in", "picks": "opted_in"})
    engine.plan_messages()
    [message] = engine.outbox("ann")
    assert message.kind == "personal"
    ids = {i.item_id for i in message.items}
    catalog = engine.catalog()
    assert "sens" not in ids and "i12" not in ids
    assert all("creator:c1" not in catalog.items[catalog.index[i]].tags for i in ids)
    # opting in to the sensitive category lets it in (tag it jazz, the established interest)
    engine.set_consent("ann", Consent(sensitive_opt_in=["health"]))


def test_items_of_recent_digests_are_not_sent_again(engine: Engine, clock: ManualClock) -> None:
    subscribe(engine)
    seen: set[str] = set()
    for _ in range(3):
        engine.plan_messages()
        latest = engine.outbox("ann", limit=1)[0]
        ids = {i.item_id for i in latest.items}
        assert not ids & seen
        seen |= ids
        clock.advance(days=1)


def test_a_slot_before_subscribing_is_not_caught_up(engine: Engine, clock: ManualClock) -> None:
    subscribe(engine, window={"start": "05:00", "end": "07:00"})  # today's window closed at 07:00
    assert engine.plan_messages().counts == {} and engine.outbox() == []
    clock.set(datetime(2026, 3, 3, 5, 30, tzinfo=UTC))
    assert engine.plan_messages().counts == {"planned": 1}


def test_window_defers_and_replan_is_idempotent(engine: Engine, clock: ManualClock) -> None:
    subscribe(engine, quiet_hours={"start": "06:00", "end": "09:00"})
    first = engine.plan_messages()
    assert first.counts == {"deferred": 1} and "quiet hours" in first.decisions[0].reason
    assert first.decisions[0].send_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    clock.set(datetime(2026, 3, 2, 9, 15, tzinfo=UTC))
    assert engine.plan_messages().counts == {"planned": 1}
    assert engine.plan_messages().counts == {}
    assert engine.plan_messages(user_ids=["ann"]).due == 0
    assert len(engine.outbox("ann")) == 1


def test_caps_across_channels_hold_back_with_reason(
    engine: Engine, clock: ManualClock, recorder: Recorder
) -> None:
    subscribe(engine, channels=["email", "push", "in_app"], caps=[{"count": 2, "days": 1}])
    report = engine.plan_messages()
    assert report.counts == {"planned": 2, "capped": 1}
    capped = [m for m in engine.outbox("ann") if m.status == "capped"]
    assert len(capped) == 1 and "2 per 1 day across channels" in (capped[0].reason or "")
    engine.send_messages()
    assert len(recorder.sent) == 2  # the capped one is never sent
    assert engine.plan_messages().counts == {}  # recorded once, not re-planned


def test_operator_cap_per_channel_counts_local_days(tmp_path, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    from tactful.domain.messages import Cap
    from tests.messaging.conftest import make_engine

    with make_engine(tmp_path / "d", clock, caps=[Cap(count=1, days=2, channel="email")]) as engine:
        subscribe(engine)
        assert engine.plan_messages().counts == {"planned": 1}
        clock.advance(days=1)
        report = engine.plan_messages()
        assert report.counts == {"capped": 1}
        clock.advance(days=1)
        assert engine.plan_messages().counts == {"planned": 1}


def test_unsubscribe_takes_effect_immediately(engine: Engine, clock: ManualClock, recorder: Recorder) -> None:
    subscribe(engine)
    engine.plan_messages()
    [queued] = engine.outbox("ann")
    assert queued.status == "queued"
    engine.unsubscribe("ann", "jazz")
    assert engine.outbox("ann")[0].status == "cancelled"
    assert engine.send_messages().sent == 0 and recorder.sent == []
    clock.advance(days=1)
    report = engine.plan_messages()
    assert report.counts == {"skipped": 1} and "no digest topic" in report.decisions[0].reason
    assert next(t for t in engine.message_preferences("ann").topics if t.id == "account").state == "required"


def test_pause_defers_not_drops(engine: Engine, clock: ManualClock, recorder: Recorder) -> None:
    subscribe(engine, pause_days=14)
    report = engine.plan_messages()
    assert report.counts == {"deferred": 1} and "paused" in report.decisions[0].reason
    clock.advance(days=14, hours=2)
    assert engine.plan_messages().counts == {"planned": 1}


def test_complaint_suppresses_channel_and_is_a_strong_negative(engine: Engine, recorder: Recorder) -> None:
    subscribe(engine, channels=["email", "push"])
    engine.plan_messages()
    engine.send_messages()
    email = next(m for m in recorder.sent if m.channel == "email")
    result = engine.message_feedback({"message_id": email.id, "type": "complaint"})
    assert any("suppressed" in e for e in result.effects)
    view = engine.message_preferences("ann")
    assert [s.channel for s in view.suppressed] == ["email"]
    assert next(t for t in view.topics if t.id == "jazz").state == "opted_out"
    profile = engine.profile("ann")
    assert {i.item_id for i in email.items} <= set(profile.disliked_items)
    jazz = next((i for i in profile.interests if i.tag == "genre:jazz"), None)
    assert jazz is not None and jazz.score < 0


def test_hard_bounce_suppresses_and_soft_bounces_add_up(engine: Engine, recorder: Recorder) -> None:
    subscribe(engine, channels=["email", "push"])
    engine.plan_messages()
    engine.send_messages()
    push = next(m for m in recorder.sent if m.channel == "push")
    email = next(m for m in recorder.sent if m.channel == "email")
    engine.message_feedback({"message_id": push.id, "type": "hard_bounce"})
    for k in range(2):
        r = engine.message_feedback({"message_id": email.id, "type": "soft_bounce"})
        assert r.effects == [f"soft bounce {k + 1} of 3"]
    assert [s.channel for s in engine.message_preferences("ann").suppressed] == ["push"]
    engine.message_feedback({"message_id": email.id, "type": "soft_bounce"})
    assert {s.channel for s in engine.message_preferences("ann").suppressed} == {"push", "email"}


def test_click_is_attributed_and_resets_the_ignore_streak(engine: Engine, recorder: Recorder) -> None:
    subscribe(engine)
    engine.plan_messages()
    engine.send_messages()
    [message] = recorder.sent
    item = message.items[0].item_id
    with pytest.raises(ValidationError):
        engine.message_feedback({"message_id": message.id, "type": "click", "item_id": "i39x"})
    engine.message_feedback({"message_id": message.id, "type": "click", "item_id": item})
    assert engine.profile("ann").positive_signals >= 1


def test_ignoring_digests_lowers_cadence_and_the_next_digest_says_so(
    engine: Engine, clock: ManualClock, recorder: Recorder
) -> None:
    subscribe(engine, topics={"picks": "opted_in"})
    for _ in range(4):  # ignore_after = 4 by default
        engine.plan_messages()
        engine.send_messages()
        clock.advance(days=1)
    report = engine.plan_messages()
    assert report.counts.get("lowered") == 1
    view = engine.message_preferences("ann")
    assert (
        view.cadence.kind == "weekly" and view.lowered_from is not None and view.lowered_from.kind == "daily"
    )
    # the weekly day is today's weekday, so this run plans the first weekly digest with the notice
    [latest] = engine.outbox("ann", limit=1)
    assert latest.period.startswith("w") and any("instead of daily" in n for n in latest.notes)
    assert "restore" in latest.links
    claims = engine.messaging.read_link(latest.links["restore"].split("token=")[1].replace("%3D", "="))
    assert claims.action == "restore"
    engine.restore_cadence("ann")
    assert engine.message_preferences("ann").cadence.kind == "daily"
    assert engine.message_preferences("ann").lowered_from is None


def test_dry_run_writes_nothing(engine: Engine) -> None:
    subscribe(engine)
    report = engine.plan_messages(dry_run=True)
    assert report.counts == {"planned": 1} and engine.outbox() == []
    assert engine.plan_messages().counts == {"planned": 1}


def test_weekly_on_monday_over_eight_weeks_across_dst(
    engine: Engine, clock: ManualClock, recorder: Recorder
) -> None:
    """Exactly one digest a week, on the local Monday, inside the window (DST starts 8 March)."""
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    clock.set(datetime(2026, 2, 21, 0, 0, tzinfo=UTC))
    subscribe(
        engine,
        topics={"picks": "opted_in"},
        cadence={"kind": "weekly", "weekday": "monday"},
        window={"start": "08:30", "end": "10:00"},
        quiet_hours={"start": "22:00", "end": "09:00"},
        timezone="America/New_York",
    )
    end = clock.now() + timedelta(weeks=8)
    while clock.now() < end:
        engine.plan_messages()
        engine.send_messages()
        engine.message_feedback(
            {"message_id": recorder.sent[-1].id, "type": "open"}
        ) if recorder.sent else None
        clock.advance(minutes=20)
    sent_at = [m for m in engine.outbox("ann", status="sent")]
    local = sorted(m.sent_at.astimezone(ny) for m in sent_at if m.sent_at)
    assert len(local) == 8
    assert all(t.weekday() == 0 and (9, 0) <= (t.hour, t.minute) < (10, 0) for t in local), local
    assert len({t.isocalendar()[:2] for t in local}) == 8
    assert any(t.utcoffset() == timedelta(hours=-5) for t in local)
    assert any(t.utcoffset() == timedelta(hours=-4) for t in local)
