"""Message preferences on /me: topics and newsletters, channels, cadence, send window, quiet
hours, time zone and a pause, through the engine's messaging API.

One form saves the choices (every field is sent, so an unticked box means "no"); required
topics are shown ticked and locked with their reason and are never sent. Small one-button
forms snooze for two weeks / resume, unsubscribe from every digest topic (required ones
stay), and put back a cadence the system lowered. After each one
the page says what was saved, read back from what the engine stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import ValidationError as PydanticError
from starlette.responses import Response

from tactful.api.auth import page_session
from tactful.api.deps import EngineDep, LanesDep
from tactful.domain.messages import WEEKDAYS, CadenceKind, Channel, PreferencesView, TimeRange
from tactful.domain.person import _ZONE_NAMES
from tactful.engine import Engine
from tactful.errors import TactfulError
from tactful.web.forms import me_change

router = APIRouter(include_in_schema=False, dependencies=[page_session()])
Csrf = Annotated[str, Form(max_length=128)]
HHMM = "^([01][0-9]|2[0-3]):[0-5][0-9]$"
SNOOZE_DAYS = 14
CHANNEL_WORDS = {
    Channel.email: "Email",
    Channel.push: "Push notifications on your phone",
    Channel.in_app: "Messages inside the app",
}
CADENCE_WORDS = {
    CadenceKind.daily: "Every day",
    CadenceKind.weekly: "Once a week",
    CadenceKind.monthly: "Once a month",
    CadenceKind.never: "Never: no digests (required messages still come)",
}
ZONES = [str(z) for z in _ZONE_NAMES]


def _range(value: TimeRange | None) -> str:
    if value is None:
        return "none"
    return "all day" if value.start == value.end else f"{value.start}–{value.end}"  # equal: the whole day


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%-d %B %Y, %H:%M UTC")


def message_context(engine: Engine, user: str) -> dict[str, Any]:
    """What the messages section of /me shows."""
    view = engine.message_preferences(user)
    return {
        "msg": view,
        # the pause is shown on its own, with a readable date
        "msg_notes": [n for n in view.notes if not n.startswith("Paused until")],
        "channel_words": CHANNEL_WORDS,
        "cadence_words": CADENCE_WORDS,
        "weekdays": WEEKDAYS,
        "zones": ZONES,
        "paused_words": _when(view.paused_until),
        "snooze_days": SNOOZE_DAYS,
    }


def describe(before: PreferencesView, after: PreferencesView) -> str:
    """What changed between two stored views, in words (empty: nothing)."""
    said: list[str] = []
    states = {t.id: t for t in before.topics}
    joined = [t.name for t in after.topics if t.state.value == "opted_in" and states[t.id].state != t.state]
    left = [t.name for t in after.topics if t.state.value == "opted_out" and states[t.id].state != t.state]
    if joined:
        said.append("you now get " + ", ".join(joined))
    if left:
        said.append("you no longer get " + ", ".join(left))
    if before.channels != after.channels:
        chosen = ", ".join(CHANNEL_WORDS[c].lower() for c in after.channels)
        said.append("channels: " + (chosen or "none, so nothing is sent"))
    if before.email != after.email:
        said.append(f"email address {after.email or 'removed'}")
    if before.cadence != after.cadence:
        said.append("digests " + after.cadence.describe())
    if before.window != after.window:
        whole = after.window.start == after.window.end
        said.append("sent at any time of day" if whole else "sent only between " + _range(after.window))
    if before.quiet_hours != after.quiet_hours:
        said.append("quiet hours " + _range(after.quiet_hours))
    if before.timezone != after.timezone:
        said.append("time zone " + after.timezone)
    if before.paused_until != after.paused_until:
        said.append(f"paused until {_when(after.paused_until)}" if after.paused_until else "messages resumed")
    if before.lowered_from is not None and after.lowered_from is None and before.cadence != after.cadence:
        said.append("your own cadence is back")
    return ("Saved: " + "; ".join(said) + ".") if said else "Saved: nothing was different."


def _problem(exc: Exception) -> str:
    if isinstance(exc, TactfulError):
        return exc.message
    if isinstance(exc, PydanticError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg', 'not valid')}" if where else str(first.get("msg"))
    return str(exc).splitlines()[0]


def _update(engine: Engine, user: str, body: dict[str, Any]) -> str:
    before = engine.message_preferences(user)
    try:
        after = engine.update_message_preferences(user, body)
    except (TactfulError, PydanticError) as exc:
        return "Nothing changed: " + _problem(exc)
    return describe(before, after)


@router.post("/me/messages")
async def save(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    csrf: Csrf,
    cadence: Annotated[CadenceKind, Form()],
    weekday: Annotated[str, Form(max_length=12)],
    day_of_month: Annotated[int, Form(ge=1, le=28)],
    window_start: Annotated[str, Form(pattern=HHMM)],
    window_end: Annotated[str, Form(pattern=HHMM)],
    quiet_start: Annotated[str, Form(pattern=HHMM)],
    quiet_end: Annotated[str, Form(pattern=HHMM)],
    timezone: Annotated[str, Form(max_length=64)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    quiet: Annotated[str | None, Form(pattern="^on$")] = None,
    topic: Annotated[list[str] | None, Form(max_length=64)] = None,
    channel: Annotated[list[Channel] | None, Form(max_length=3)] = None,
) -> Response:
    def work(user: str) -> str:
        view = engine.message_preferences(user)
        chosen = set(topic or [])
        unknown = chosen - {t.id for t in view.topics}
        if unknown:
            return "Nothing changed: unknown topic " + ", ".join(sorted(unknown))
        body: dict[str, Any] = {
            "topics": {
                t.id: ("opted_in" if t.id in chosen else "opted_out") for t in view.topics if not t.locked
            },
            "channels": [c.value for c in channel or []],
            "cadence": {"kind": cadence.value, "weekday": weekday, "day_of_month": day_of_month},
            "window": {"start": window_start, "end": window_end},
            "quiet_hours": {"start": quiet_start, "end": quiet_end} if quiet == "on" else None,
            "timezone": timezone or None,
        }
        if email.strip():
            body["email"] = email.strip()
        return _update(engine, user, body)

    return await me_change(request, engine, lanes, csrf, work)


@router.post("/me/messages/pause")
async def pause(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    csrf: Csrf,
    what: Annotated[str, Form(pattern="^(snooze|resume|restore|unsubscribe)$")],
) -> Response:
    def work(user: str) -> str:
        if what in ("restore", "unsubscribe"):
            before = engine.message_preferences(user)
            try:
                after = engine.restore_cadence(user) if what == "restore" else engine.unsubscribe(user, None)
            except TactfulError as exc:
                return "Nothing changed: " + exc.message
            return describe(before, after)
        body: dict[str, Any] = {"pause_days": SNOOZE_DAYS} if what == "snooze" else {"paused_until": None}
        return _update(engine, user, body)

    return await me_change(request, engine, lanes, csrf, work)
