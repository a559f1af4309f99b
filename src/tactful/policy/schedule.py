"""When a person may get a message (P13), as pure functions of their preferences and a time.

Nothing here does I/O. Everything is decided on the person's *local wall clock* (their
time zone through :mod:`zoneinfo`, so DST changes are the zone's business, not ours):

- a **slot** is the moment a cadence comes due: the start of the send window on a daily
  day, on the chosen weekday, or on the chosen day of the month; its **period** names it
  (``d2026-03-02``, ``w2026-03-02``, ``m2026-03``) and is part of the outbox's
  idempotency key, so one period sends at most once per channel however often planners run;
- a time is **allowed** when it is inside the send window, outside quiet hours and not in
  a pause; a ranges whose end is not after its start crosses midnight;
- a due message at a time that is not allowed is **deferred** to :func:`next_allowed`,
  never dropped; if another slot comes meanwhile, the newer period replaces it (one digest,
  not a backlog);
- **caps** ("N per X days", per channel or across channels) count messages on the
  person's local calendar days (:func:`cap_exceeded`).

Each decision carries its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tactful.domain.messages import (
    WEEKDAYS,
    Cadence,
    CadenceKind,
    Cap,
    Channel,
    MessagePreferences,
    minutes,
)

SEARCH_DAYS = 62
"""How far ahead :func:`next_allowed` looks for an allowed moment (two months of windows)."""
_ZONE_CACHE: dict[str, ZoneInfo] = {}


def zone(name: str) -> ZoneInfo:
    found = _ZONE_CACHE.get(name)
    if found is None:
        found = _ZONE_CACHE[name] = ZoneInfo(name)
    return found


def in_range(minute: int, start: int, end: int) -> bool:
    """Whether a minute of the day lies in ``[start, end)``; ``end <= start`` crosses midnight."""
    if start < end:
        return start <= minute < end
    if start == end:  # the whole day
        return True
    return minute >= start or minute < end


@dataclass(frozen=True, slots=True)
class Schedule:
    """A person's preferences compiled for fast checks (minutes of the day, a zone object)."""

    zone: ZoneInfo
    kind: CadenceKind
    weekday: int
    day_of_month: int
    window: tuple[int, int]
    quiet: tuple[int, int] | None
    paused_until: datetime | None
    respect: bool = True  # False: a plain sender that ignores windows, quiet hours and pauses

    @classmethod
    def of(cls, prefs: MessagePreferences, person_zone: str = "UTC", respect: bool = True) -> Schedule:
        c = prefs.cadence
        q = prefs.quiet_hours
        return cls(
            zone=zone(prefs.timezone or person_zone),
            kind=c.kind,
            weekday=WEEKDAYS.index(c.weekday),
            day_of_month=c.day_of_month,
            window=(minutes(prefs.window.start), minutes(prefs.window.end)),
            quiet=None if q is None else (minutes(q.start), minutes(q.end)),
            paused_until=prefs.paused_until,
            respect=respect,
        )

    @classmethod
    def of_document(cls, doc: Mapping[str, Any], person_zone: str = "UTC", respect: bool = True) -> Schedule:
        """The same from a stored, already validated preference document (plain JSON data)."""
        cadence = doc.get("cadence") or {}
        window = doc.get("window") or {"start": "08:00", "end": "20:00"}
        quiet = doc.get("quiet_hours")
        paused = doc.get("paused_until")
        return cls(
            zone=zone(doc.get("timezone") or person_zone),
            kind=CadenceKind(cadence.get("kind", "weekly")),
            weekday=WEEKDAYS.index(cadence.get("weekday", "monday")),
            day_of_month=int(cadence.get("day_of_month", 1)),
            window=(minutes(window["start"]), minutes(window["end"])),
            quiet=None if not quiet else (minutes(quiet["start"]), minutes(quiet["end"])),
            paused_until=None if paused is None else datetime.fromisoformat(paused),
            respect=respect,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Due:
    """The due check's answer for one person at one time."""

    due: bool
    period: str | None
    reason: str
    send_at: datetime | None = None  # now when due; the deferred time when held back
    deferred: bool = False


def local_minute(s: Schedule, at: datetime) -> tuple[date, int]:
    local = at.astimezone(s.zone)
    return local.date(), local.hour * 60 + local.minute


_OK = Verdict(True)


def allowed(s: Schedule, at: datetime, local: tuple[date, int] | None = None) -> Verdict:
    """Whether a message may go out at ``at`` (UTC-aware), and if not, why."""
    if not s.respect:
        return _OK
    if s.paused_until is not None and at < s.paused_until:
        return Verdict(False, f"paused until {s.paused_until.isoformat()}")
    _, minute = local or local_minute(s, at)
    if not in_range(minute, *s.window):
        return Verdict(False, "outside the send window")
    if s.quiet is not None and in_range(minute, *s.quiet):
        return Verdict(False, "in quiet hours")
    return _OK


def wall(s: Schedule, day: date, minute: int, fold: int = 0) -> datetime:
    """The UTC instant of a local wall-clock time (a time in a DST gap moves forward by the gap).

    ``fold`` picks which of the two instants a time that occurs twice (clocks going back)
    means: 0 the first, 1 the second.
    """
    local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=s.zone, fold=fold)
    return local.astimezone(UTC)


def window_end(s: Schedule, day: date) -> datetime:
    """When the send window that opens on local ``day`` closes."""
    start, end = s.window
    return wall(s, day + timedelta(days=1) if end <= start else day, end)


def next_allowed(s: Schedule, at: datetime) -> datetime | None:
    """The first allowed moment at or after ``at``; None if the window lies wholly in quiet hours.

    An allowed stretch can only begin at ``at``, at the end of a pause, at a window's start,
    at the end of quiet hours, or where the clock changes (local time jumps into the window:
    on the day clocks go forward a window starting in the skipped hour opens at the jump),
    so those are the only moments tried, day by day. A local time that occurs twice (the
    day clocks go back) is tried at both of its instants.
    """
    if allowed(s, at).ok:
        return at
    start = max(at, s.paused_until) if s.paused_until is not None else at
    if start != at and allowed(s, start).ok:
        return start
    day0, _ = local_minute(s, start)
    marks = sorted({s.window[0]} | ({s.quiet[1]} if s.quiet is not None else set()))
    for offset in range(-1, SEARCH_DAYS):
        day = day0 + timedelta(days=offset)
        candidates = {wall(s, day, m, fold) for m in marks for fold in (0, 1)}
        candidates.update(clock_changes(s, day))
        for when in sorted(candidates):
            if when >= start and allowed(s, when).ok:
                return when
    return None


def clock_changes(s: Schedule, day: date) -> list[datetime]:
    """The UTC instants (to the minute) at which the zone's offset changes on local ``day``."""
    begin = wall(s, day, 0)
    end = wall(s, day + timedelta(days=1), 0)
    if begin.astimezone(s.zone).utcoffset() == end.astimezone(s.zone).utcoffset():
        return []  # zones change at most once a day
    after = end.astimezone(s.zone).utcoffset()
    low, high = 0, int((end - begin).total_seconds() // 60)  # minutes past begin; high has `after`
    while high - low > 1:
        mid = (low + high) // 2
        if (begin + timedelta(minutes=mid)).astimezone(s.zone).utcoffset() == after:
            high = mid
        else:
            low = mid
    return [begin + timedelta(minutes=high)]


def slot_day(s: Schedule, at: datetime, local: tuple[date, int] | None = None) -> date | None:
    """The local date of the latest slot at or before ``at`` (None for cadence 'never')."""
    if s.kind is CadenceKind.never:
        return None
    today, minute = local or local_minute(s, at)
    before_start = minute < s.window[0]
    if s.kind is CadenceKind.daily:
        return today - timedelta(days=1) if before_start else today
    if s.kind is CadenceKind.weekly:
        back = (today.weekday() - s.weekday) % 7
        if back == 0 and before_start:
            back = 7
        return today - timedelta(days=back)
    this_month = today.replace(day=s.day_of_month)
    if (today, minute) < (this_month, s.window[0]):
        prev = (today.replace(day=1) - timedelta(days=1)).replace(day=s.day_of_month)
        return prev
    return this_month


def period_of(kind: CadenceKind, day: date) -> str:
    if kind is CadenceKind.daily:
        return f"d{day.isoformat()}"
    if kind is CadenceKind.weekly:
        return f"w{day.isoformat()}"
    return f"m{day.year:04d}-{day.month:02d}"


def due(s: Schedule, at: datetime, last_period: str | None, since: datetime | None = None) -> Due:
    """Whether a digest is due at ``at``; held back by a window, quiet hours or a pause it is deferred.

    ``since`` is when the cadence was chosen: a slot before it is not caught up on.
    """
    local = local_minute(s, at)
    day = slot_day(s, at, local)
    if day is None:
        return Due(False, None, "cadence is never")
    period = period_of(s.kind, day)
    if period == last_period:
        return Due(False, period, "already planned for this period")
    if since is not None and window_end(s, day) <= since:
        return Due(False, period, "the first slot after the cadence was chosen has not come yet")
    verdict = allowed(s, at, local)
    if verdict.ok:
        return Due(True, period, "due", at)
    later = next_allowed(s, at)
    reason = f"deferred: {verdict.reason}"
    if later is None:
        reason += "; the send window lies wholly in quiet hours"
    return Due(False, period, reason, later, deferred=True)


def local_day(s: Schedule, at: datetime) -> int:
    """The person's local calendar day of ``at``, as an ordinal (what caps count on)."""
    return local_minute(s, at)[0].toordinal()


def cap_exceeded(
    caps: Iterable[Cap], channel: Channel, day: int, history: Sequence[tuple[Channel, int]]
) -> Cap | None:
    """The first cap one more message on ``channel`` on local day ``day`` would break.

    ``history`` holds ``(channel, local day)`` of the person's counted messages (queued or
    sent). A cap of N per X days allows N messages on any X consecutive local calendar days
    ending with ``day``.
    """
    for cap in caps:
        if cap.channel is not None and cap.channel is not channel:
            continue
        counted = sum(
            1 for ch, d in history if (cap.channel is None or ch is cap.channel) and day - cap.days < d <= day
        )
        if counted >= cap.count:
            return cap
    return None


def lowered(cadence: Cadence, kind: CadenceKind, weekday: int) -> Cadence:
    """The cadence one step down (daily → weekly on today's weekday, weekly → monthly)."""
    if kind is CadenceKind.weekly:
        return Cadence(kind=kind, weekday=WEEKDAYS[weekday], day_of_month=cadence.day_of_month)  # type: ignore[arg-type]
    return Cadence(kind=kind, weekday=cadence.weekday, day_of_month=cadence.day_of_month)
