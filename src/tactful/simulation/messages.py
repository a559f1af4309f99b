"""Messages in the respect benchmark: people choose what to receive and when; an audit counts
every delivery that breaks their choice.

Each simulated person gets seeded message preferences (channels, topics among their own
interests or the any-content "picks", a daily or weekly cadence, a send window that may
cross midnight, a time zone, sometimes quiet hours, a pause or a cap) and some unsubscribe
from a topic mid-run. The planner and a delivery pass run every few hours. Deliveries go to
:class:`MessageAudit`, a transport that checks each against the simulation's *own record*
of what the person chose (with its own time arithmetic, not the engine's), so the engine
with policies on and the plain baseline are judged alike:

- ``msg_window_violations``: sent outside the window, in quiet hours or during a pause;
- ``msg_cap_violations``: sends beyond a person's "N per X local days" cap;
- ``msg_unchosen_sends``: on a channel not chosen, or holding an item of a topic not chosen;
- ``msg_sensitive_items``: sensitive items in digests without the person's opt-in;
- ``msg_after_unsubscribe``: items of a topic sent after the person unsubscribed from it;
- ``msg_double_sends``: a (person, channel, period) delivered more than once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from tactful.clock import ManualClock
from tactful.config.messaging import MessagingSettings, TopicSettings
from tactful.domain.messages import MessageFeedback, OutboxMessage
from tactful.engine import Engine
from tactful.simulation.metrics import MESSAGE_KEYS
from tactful.simulation.world import Persona, World
from tactful.storage.protocol import StoredPreferences

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
TICK_HOURS = 3
OPEN_P = 0.5


def topic_id(tag: str) -> str:
    return tag.split(":", 1)[1]


def messaging_settings(world: World) -> MessagingSettings:
    topics = {topic_id(t): TopicSettings(name=t, tags=[t]) for t in world.topics}
    topics["picks"] = TopicSettings(name="Picks", description="Anything")
    topics["account"] = TopicSettings(name="Account", required=True, reason="Security notices.")
    return MessagingSettings(topics=topics, ignore_after=4)


@dataclass
class Choice:
    """What one person chose, as the simulation remembers it."""

    channels: list[str]
    topics: list[str]  # topic ids opted in
    cadence: dict[str, str]
    window: tuple[int, int]
    quiet: tuple[int, int] | None
    zone: str
    pause_day: int | None  # the simulation day the person will pause messages for a week
    cap: tuple[int, int] | None
    unsubscribe_day: int | None
    unsubscribed: dict[str, datetime] = field(default_factory=dict)
    pause: tuple[datetime, datetime] | None = None  # the pause as told to the engine, once it is


def _hhmm(minute: int) -> str:
    return f"{minute // 60 % 24:02d}:{minute % 60:02d}"


def _in(minute: int, start: int, end: int) -> bool:
    return start <= minute < end if start < end else (minute >= start or minute < end)


def choose(person: Persona, n: int, seed: int, days: int) -> Choice:
    """A person's choices; what they will do later (a pause, an unsubscribe) falls on days
    after they arrive, so the record never holds an intention the engine could not hear."""
    rng = np.random.default_rng([seed, n, 13])
    arrives = person.arrives_day
    own = [topic_id(t) for t in person.hidden[:2]]
    topics = own + (["picks"] if rng.random() < 0.4 else [])
    channels = [c for c in ("email", "push", "in_app") if rng.random() < 0.5] or ["email"]
    begin = int(rng.integers(0, 24)) * 60
    window = (begin, (begin + int(rng.choice([180, 360, 600]))) % 1440)
    quiet = (22 * 60, 7 * 60) if rng.random() < 0.5 else None
    pause = arrives + int(rng.integers(3, max(4, days - arrives - 5))) if rng.random() < 0.2 else None
    cap = (1, 2) if rng.random() < 0.4 else None
    cadence = {"kind": "daily"} if rng.random() < 0.6 else {"kind": "weekly", "weekday": "wednesday"}
    unsub = arrives + int(rng.integers(5, max(6, days - arrives - 2))) if rng.random() < 0.3 and own else None
    return Choice(channels, topics, cadence, window, quiet, str(rng.choice(ZONES)), pause, cap, unsub)


def apply_choice(engine: Engine, person: Persona, choice: Choice, now: datetime) -> None:
    body: dict[str, object] = {
        "channels": choice.channels,
        "email": f"{person.id}@example.com",
        "topics": {t: "opted_in" for t in choice.topics},
        "cadence": choice.cadence,
        "window": {"start": _hhmm(choice.window[0]), "end": _hhmm(choice.window[1])},
        "quiet_hours": None
        if choice.quiet is None
        else {"start": _hhmm(choice.quiet[0]), "end": _hhmm(choice.quiet[1])},
        "timezone": choice.zone,
        "caps": [] if choice.cap is None else [{"count": choice.cap[0], "days": choice.cap[1]}],
    }
    engine.update_message_preferences(person.id, body)


@dataclass
class MessageAudit:
    """A delivery transport that checks every message against the people's own choices."""

    world: World
    seed: int
    start: datetime
    choices: dict[str, Choice] = field(default_factory=dict)
    people: dict[str, Persona] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    keys: set[str] = field(default_factory=set)
    sends: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    delivered: list[OutboxMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.topic_of = self.world.item_topic
        self.sensitive = {i.id for i in self.world.items if i.sensitive}

    def send(self, message: OutboxMessage, stored: StoredPreferences, now: datetime) -> None:
        c = self.choices[message.user_id]
        person = self.people[message.user_id]
        local = now.astimezone(ZoneInfo(c.zone))
        minute = local.hour * 60 + local.minute
        paused = c.pause is not None and c.pause[0] <= now < c.pause[1]
        if not _in(minute, *c.window) or (c.quiet is not None and _in(minute, *c.quiet)) or paused:
            self.counts["msg_window_violations"] += 1
        day = local.date().toordinal()
        if c.cap is not None:
            count, days = c.cap
            if sum(1 for d in self.sends[message.user_id] if day - days < d <= day) >= count:
                self.counts["msg_cap_violations"] += 1
        self.sends[message.user_id].append(day)
        chosen_tags = {f"topic:{t}" for t in c.topics if t != "picks"}
        anything = "picks" in c.topics
        unchosen = message.channel.value not in c.channels
        sim_day = (now - self.start).days
        for item in message.items:
            topic = self.topic_of.get(item.item_id)
            if not anything and topic not in chosen_tags:
                unchosen = True
            if item.item_id in self.sensitive and not person.opted_in_on(sim_day):
                self.counts["msg_sensitive_items"] += 1
            gone = c.unsubscribed.get(topic_id(topic)) if topic else None
            if gone is not None and now >= gone:
                self.counts["msg_after_unsubscribe"] += 1
        self.counts["msg_unchosen_sends"] += int(unchosen)
        if message.key in self.keys:
            self.counts["msg_double_sends"] += 1
        self.keys.add(message.key)
        self.delivered.append(message)

    def result(self) -> dict[str, int]:
        return {"messages_sent": len(self.delivered), **{key: int(self.counts[key]) for key in MESSAGE_KEYS}}


def arrive(engine: Engine, audit: MessageAudit, person: Persona, n: int, now: datetime) -> None:
    choice = choose(person, n, audit.seed, audit.world.days)
    audit.choices[person.id] = choice
    audit.people[person.id] = person
    apply_choice(engine, person, choice, now)


def daily(engine: Engine, audit: MessageAudit, person: Persona, day: int, now: datetime) -> None:
    """A person's own message actions on ``day``: a pause starting, an unsubscribe."""
    c = audit.choices.get(person.id)
    if c is None:
        return
    if c.pause_day == day:
        until = now + timedelta(days=7)
        engine.update_message_preferences(person.id, {"paused_until": until.isoformat()})
        c.pause = (now, until)
    if c.unsubscribe_day == day:
        topic = next(t for t in c.topics if t != "picks")
        engine.unsubscribe(person.id, topic)
        c.unsubscribed[topic] = now
        c.topics = [t for t in c.topics if t != topic]


def ticks(
    engine: Engine, audit: MessageAudit, clock: ManualClock, day_start: datetime, seed: int, day: int
) -> list[datetime]:
    """Plan and deliver every ``TICK_HOURS`` through the day; people open some digests."""
    times = []
    for hour in range(1, 24, TICK_HOURS):
        at = day_start + timedelta(hours=hour)
        clock.set(at)
        engine.plan_messages(at)
        before = len(audit.delivered)
        engine.send_messages(at)
        for k, message in enumerate(audit.delivered[before:]):
            person = audit.people[message.user_id]
            rng = np.random.default_rng([seed, day, hour, k])
            if not person.ignorer and rng.random() < OPEN_P:
                engine.message_feedback(MessageFeedback(message_id=message.id, type="open", at=at))
        times.append(at)
    return times
