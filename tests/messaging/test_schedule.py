"""The pure schedule: windows, quiet hours, pauses, DST, periods and caps (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tactful.domain.messages import Cadence, Cap, Channel, MessagePreferences, TimeRange
from tactful.policy.schedule import (
    Schedule,
    allowed,
    cap_exceeded,
    due,
    in_range,
    local_day,
    next_allowed,
    slot_day,
)

NY = ZoneInfo("America/New_York")


def sched(**prefs: object) -> Schedule:
    return Schedule.of(MessagePreferences.model_validate(prefs))


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


def test_window_crossing_midnight() -> None:
    s = sched(window={"start": "22:00", "end": "02:00"}, timezone="Europe/Berlin", cadence={"kind": "daily"})
    berlin = ZoneInfo("Europe/Berlin")
    assert allowed(s, local(berlin, 2026, 3, 2, 23, 30)).ok
    assert allowed(s, local(berlin, 2026, 3, 3, 1, 59)).ok
    assert not allowed(s, local(berlin, 2026, 3, 3, 2, 0)).ok
    assert not allowed(s, local(berlin, 2026, 3, 2, 21, 59)).ok
    # at 01:00 the slot is the previous evening's: the same period as at 23:00
    late = due(s, local(berlin, 2026, 3, 3, 1, 0), None)
    assert late.due and late.period == "d2026-03-02"
    assert not due(s, local(berlin, 2026, 3, 3, 1, 0), "d2026-03-02").due
    # before the window opens the message is deferred to 22:00 local, not dropped
    early = due(s, local(berlin, 2026, 3, 3, 12, 0), "d2026-03-02")
    assert not early.due and early.period == "d2026-03-02"  # still yesterday's slot: already planned


def test_quiet_hours_defer_to_their_end() -> None:
    s = sched(window={"start": "07:00", "end": "21:00"}, quiet_hours={"start": "06:00", "end": "09:30"})
    d = due(s, datetime(2026, 3, 2, 7, 15, tzinfo=UTC), None)
    assert not d.due and d.deferred and "quiet hours" in d.reason
    assert d.send_at == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    assert allowed(s, d.send_at).ok


def test_quiet_hours_crossing_midnight_inside_window() -> None:
    s = sched(window={"start": "18:00", "end": "03:00"}, quiet_hours={"start": "23:00", "end": "07:00"})
    assert allowed(s, datetime(2026, 3, 2, 22, 59, tzinfo=UTC)).ok
    assert not allowed(s, datetime(2026, 3, 2, 23, 0, tzinfo=UTC)).ok
    assert not allowed(s, datetime(2026, 3, 3, 2, 0, tzinfo=UTC)).ok
    assert next_allowed(s, datetime(2026, 3, 2, 23, 30, tzinfo=UTC)) == datetime(
        2026, 3, 3, 18, 0, tzinfo=UTC
    )


def test_equal_start_and_end_is_the_whole_day() -> None:
    s = sched(window={"start": "09:00", "end": "09:00"})
    assert all(allowed(s, datetime(2026, 3, 2, h, 30, tzinfo=UTC)).ok for h in range(24))


def test_window_wholly_in_quiet_hours_is_reported() -> None:
    s = sched(window={"start": "10:00", "end": "11:00"}, quiet_hours={"start": "09:00", "end": "12:00"})
    d = due(s, datetime(2026, 3, 2, 10, 30, tzinfo=UTC), None)
    assert not d.due and d.send_at is None and "wholly in quiet hours" in d.reason


def test_pause_defers_to_the_first_window_after_it() -> None:
    until = datetime(2026, 3, 16, 3, 0, tzinfo=UTC)
    s = sched(
        window={"start": "09:00", "end": "10:00"}, paused_until=until.isoformat(), cadence={"kind": "daily"}
    )
    d = due(s, datetime(2026, 3, 5, 9, 30, tzinfo=UTC), None)
    assert not d.due and "paused" in d.reason and d.send_at == datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
    assert due(s, datetime(2026, 3, 16, 9, 1, tzinfo=UTC), "d2026-03-05").due


def test_dst_spring_forward_gap_window_start() -> None:
    # 2026-03-08 02:00 does not exist in New York: a 02:30 window start opens at 03:30 EDT
    s = sched(
        window={"start": "02:30", "end": "05:00"}, timezone="America/New_York", cadence={"kind": "daily"}
    )
    before = local(NY, 2026, 3, 8, 1, 59)
    later = next_allowed(s, before)
    assert later is not None and later.astimezone(NY).hour == 3 and later.astimezone(NY).day == 8
    assert due(s, later, "d2026-03-07").due and due(s, later, "d2026-03-07").period == "d2026-03-08"


def test_dst_fall_back_sends_once_in_the_repeated_hour() -> None:
    # 2026-11-01 01:00–02:00 happens twice in New York; a 01:00–02:00 window is one period
    s = sched(
        window={"start": "01:00", "end": "02:00"}, timezone="America/New_York", cadence={"kind": "daily"}
    )
    first = datetime(2026, 11, 1, 5, 10, tzinfo=UTC)  # 01:10 EDT
    second = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST, an hour later
    assert first.astimezone(NY).hour == second.astimezone(NY).hour == 1
    d1 = due(s, first, None)
    assert d1.due and d1.period == "d2026-11-01"
    assert not due(s, second, d1.period).due


def test_travel_changing_time_zone_keeps_the_local_day_period() -> None:
    prefs = {"window": {"start": "09:00", "end": "12:00"}, "cadence": {"kind": "daily"}}
    berlin = sched(**prefs, timezone="Europe/Berlin")
    sent = due(berlin, local(ZoneInfo("Europe/Berlin"), 2026, 3, 4, 9, 5), None)
    assert sent.due and sent.period == "d2026-03-04"
    # flies to New York the same morning; at 09:05 New York it is still 4 March there
    ny = sched(**prefs, timezone="America/New_York")
    again = due(ny, local(NY, 2026, 3, 4, 9, 5), sent.period)
    assert not again.due  # the same local day: already planned
    assert due(ny, local(NY, 2026, 3, 5, 9, 5), sent.period).due


def test_weekly_and_monthly_slots() -> None:
    weekly = sched(
        cadence={"kind": "weekly", "weekday": "wednesday"}, window={"start": "09:00", "end": "10:00"}
    )
    assert slot_day(weekly, datetime(2026, 3, 4, 8, 0, tzinfo=UTC)) == date(2026, 2, 25)
    assert slot_day(weekly, datetime(2026, 3, 4, 9, 0, tzinfo=UTC)) == date(2026, 3, 4)
    assert slot_day(weekly, datetime(2026, 3, 9, 9, 0, tzinfo=UTC)) == date(2026, 3, 4)
    monthly = sched(
        cadence={"kind": "monthly", "day_of_month": 15}, window={"start": "09:00", "end": "10:00"}
    )
    assert due(monthly, datetime(2026, 3, 15, 9, 30, tzinfo=UTC), None).period == "m2026-03"
    assert due(monthly, datetime(2026, 3, 14, 9, 30, tzinfo=UTC), None).period == "m2026-02"
    assert due(monthly, datetime(2026, 1, 3, 9, 30, tzinfo=UTC), None).period == "m2025-12"
    assert not due(sched(cadence={"kind": "never"}), datetime(2026, 3, 15, 9, 30, tzinfo=UTC), None).due


def test_caps_per_channel_and_across_channels_on_local_days() -> None:
    caps = [Cap(count=2, days=7), Cap(count=1, days=1, channel=Channel.push)]
    day = date(2026, 3, 4).toordinal()
    assert cap_exceeded(caps, Channel.email, day, []) is None
    assert cap_exceeded(caps, Channel.push, day, [(Channel.push, day)]) == caps[1]
    # one email yesterday and one push today: a third message this week breaks the 2-per-7 cap
    hist = [(Channel.email, day - 1), (Channel.push, day)]
    assert cap_exceeded(caps, Channel.email, day, hist) == caps[0]
    # six days after, the first has left the 7-day window
    assert cap_exceeded(caps, Channel.email, day + 6, hist) is None
    assert cap_exceeded(caps, Channel.email, day + 5, hist) == caps[0]


def test_local_day_follows_the_persons_zone() -> None:
    tokyo = sched(timezone="Asia/Tokyo")
    at = datetime(2026, 3, 4, 20, 0, tzinfo=UTC)  # already 5 March in Tokyo
    assert local_day(tokyo, at) == date(2026, 3, 5).toordinal()
    assert local_day(sched(timezone="UTC"), at) == date(2026, 3, 4).toordinal()


minutes_st = st.integers(0, 1439)


@settings(max_examples=200, deadline=None)
# clocks go forward: 02:01-03:01 opens at the jump to 03:00 (07:00 UTC), its start never occurs
@example(121, 181, None, "America/New_York", datetime(2026, 3, 7, 10, 0, tzinfo=UTC))
# clocks go back: 01:30-02:00 occurs twice, and opens again at 01:30 EST (06:30 UTC)
@example(90, 120, None, "America/New_York", datetime(2026, 11, 1, 6, 0, tzinfo=UTC))
@given(
    start=minutes_st,
    end=minutes_st,
    quiet=st.none() | st.tuples(minutes_st, minutes_st),
    zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]),
    at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
)
def test_next_allowed_is_allowed_and_nothing_earlier_is(
    start: int, end: int, quiet: tuple[int, int] | None, zone: str, at: datetime
) -> None:
    hhmm = lambda m: f"{m // 60:02d}:{m % 60:02d}"  # noqa: E731
    prefs = MessagePreferences(
        window=TimeRange(start=hhmm(start), end=hhmm(end)),
        quiet_hours=None if quiet is None else TimeRange(start=hhmm(quiet[0]), end=hhmm(quiet[1])),
        timezone=zone,
    )
    s = Schedule.of(prefs)
    found = next_allowed(s, at)
    if found is None:  # only when the window lies wholly in quiet hours
        assert quiet is not None
        assert all(not in_range(m, start, end) or in_range(m, *quiet) for m in range(1440))
        return
    assert found >= at and allowed(s, found).ok
    step = at
    while step < found and step < at + timedelta(days=3):
        assert not allowed(s, step).ok
        step += timedelta(minutes=7)


def test_cadence_default_is_weekly_on_monday() -> None:
    assert Cadence().describe() == "weekly on Monday"


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(["daily", "weekly", "monthly", "never"]),
    weekday=st.sampled_from(["monday", "sunday"]),
    dom=st.integers(1, 28),
    start=minutes_st,
    length=st.integers(1, 1439),
    quiet=st.booleans(),
    zone=st.sampled_from([None, "Asia/Tokyo", "America/New_York"]),
    paused=st.booleans(),
)
def test_schedule_from_the_stored_document_equals_the_validated_one(
    kind: str, weekday: str, dom: int, start: int, length: int, quiet: bool, zone: str | None, paused: bool
) -> None:
    hhmm = lambda m: f"{m // 60 % 24:02d}:{m % 60:02d}"  # noqa: E731
    prefs = MessagePreferences.model_validate(
        {
            "cadence": {"kind": kind, "weekday": weekday, "day_of_month": dom},
            "window": {"start": hhmm(start), "end": hhmm(start + length)},
            "quiet_hours": {"start": "22:00", "end": "06:30"} if quiet else None,
            "timezone": zone,
            "paused_until": "2026-03-16T03:00:00Z" if paused else None,
        }
    )
    import orjson

    doc = orjson.loads(prefs.model_dump_json())
    assert Schedule.of_document(doc, "Europe/Berlin") == Schedule.of(prefs, "Europe/Berlin")
