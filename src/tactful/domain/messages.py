"""Message preferences (P13): channels, topics, cadence, send window, time zone, quiet hours,
pause and caps, as a person sets them, and the records the planner and outbox keep.

Times of day are local wall-clock ``"HH:MM"`` strings in the person's time zone; a range
whose end is not after its start crosses midnight (``22:00``–``07:00``). Every boundary
model forbids unknown fields and bounds its lists, so a bad body is a clear 4xx.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from tactful.domain.identifiers import EntityId
from tactful.domain.person import _ZONE_NAMES, _ZONES
from tactful.domain.strict import JSON_NUMBER, Instant

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
TOPIC_PATTERN = r"^[a-z][a-z0-9_\-]{0,47}$"
MAX_CAP_DAYS = 30


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("a local time of day as HH:MM (00:00–23:59)")
    return value


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a time zone (e.g. 2026-03-01T09:00:00Z)")
    return value


AwareInstant = Annotated[Instant, AfterValidator(_aware)]
LocalTime = Annotated[
    str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["09:00"]), AfterValidator(_hhmm)
]
Email = Annotated[
    str, Field(pattern=r"^[^@\s<>\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.\-]{1,189}\.[A-Za-z]{2,63}$", max_length=254)
]
TopicId = Annotated[str, Field(pattern=TOPIC_PATTERN, description="A topic or newsletter id.")]


def minutes(hhmm: str) -> int:
    """``"HH:MM"`` as minutes after local midnight."""
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


class Channel(StrEnum):
    email = "email"
    push = "push"
    in_app = "in_app"


class CadenceKind(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    never = "never"


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
LOWER = {CadenceKind.daily: CadenceKind.weekly, CadenceKind.weekly: CadenceKind.monthly}
"""What an ignored cadence is lowered to (P7); monthly stays monthly."""


class Cadence(BaseModel):
    """How often digests come: daily, weekly on a chosen day, monthly on a chosen day, or never."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: CadenceKind = CadenceKind.weekly
    weekday: Weekday = Field("monday", description="The day of a weekly digest.")
    day_of_month: Annotated[int, Field(ge=1, le=28), JSON_NUMBER] = Field(
        1, description="The day of a monthly digest (1–28)."
    )

    def describe(self) -> str:
        if self.kind is CadenceKind.weekly:
            return f"weekly on {self.weekday.capitalize()}"
        if self.kind is CadenceKind.monthly:
            return f"monthly on day {self.day_of_month}"
        return self.kind.value


class TimeRange(BaseModel):
    """A local time range; ``end`` before ``start`` crosses midnight; ``end`` equal to ``start``
    is the whole day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: LocalTime
    end: LocalTime


class Cap(BaseModel):
    """At most ``count`` messages per ``days`` local calendar days, on one channel or across all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: Annotated[int, Field(ge=0, le=1000), JSON_NUMBER]
    days: Annotated[int, Field(ge=1, le=MAX_CAP_DAYS), JSON_NUMBER]
    channel: Channel | None = Field(None, description="None: across every channel.")

    def describe(self) -> str:
        where = f"on {self.channel.value}" if self.channel else "across channels"
        return f"{self.count} per {self.days} day{'s' if self.days != 1 else ''} {where}"


class TopicState(StrEnum):
    opted_in = "opted_in"
    opted_out = "opted_out"
    required = "required"


class Suppression(BaseModel):
    """A channel the system stopped using (hard bounce, complaint) and why."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    reason: str
    at: datetime


class MessagePreferences(BaseModel):
    """What a person chose: the stored preference record (system fields apart)."""

    model_config = ConfigDict(extra="forbid")

    channels: list[Channel] = Field(default_factory=list, max_length=3, description="Chosen channels.")
    topics: dict[TopicId, Literal["opted_in", "opted_out"]] = Field(default_factory=dict, max_length=64)
    cadence: Cadence = Field(default_factory=Cadence)
    window: TimeRange = Field(default_factory=lambda: TimeRange(start="08:00", end="20:00"))
    quiet_hours: TimeRange | None = None
    timezone: str | None = Field(
        None, json_schema_extra={"enum": [*_ZONE_NAMES, None]}, description="IANA zone; None: the person's."
    )
    paused_until: AwareInstant | None = None
    caps: list[Cap] = Field(default_factory=list, max_length=8)
    email: Email | None = Field(None, description="Where email digests go.")

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[Channel]) -> list[Channel]:
        return list(dict.fromkeys(value))

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and value not in _ZONES:
            raise ValueError(f"unknown time zone {value!r}")
        return value


class PreferencesUpdate(BaseModel):
    """A partial change: only the fields given change; ``topics`` merges per topic."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channels": ["email"],
                    "email": "ann@example.com",
                    "topics": {"digest": "opted_in"},
                    "cadence": {"kind": "weekly", "weekday": "monday"},
                    "window": {"start": "08:00", "end": "10:00"},
                    "quiet_hours": {"start": "22:00", "end": "07:00"},
                    "timezone": "Europe/Berlin",
                    "caps": [{"count": 3, "days": 7}],
                },
                {"pause_days": 14},
            ]
        },
    )

    channels: list[Channel] | None = Field(None, max_length=3)
    topics: dict[TopicId, Literal["opted_in", "opted_out"]] | None = Field(None, max_length=64)
    cadence: Cadence | None = None
    window: TimeRange | None = None
    quiet_hours: TimeRange | None = None
    timezone: str | None = Field(None, json_schema_extra={"enum": [*_ZONE_NAMES, None]})
    paused_until: AwareInstant | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and value not in _ZONES:
            raise ValueError(f"unknown time zone {value!r}")
        return value

    pause_days: Annotated[float, Field(gt=0, le=365), JSON_NUMBER] | None = Field(
        None, description='Snooze everything this many days ("snooze for 2 weeks": 14).'
    )
    caps: list[Cap] | None = Field(None, max_length=8)
    email: Email | None = None


class MessageState(BaseModel):
    """What the system keeps beside the choices: suppressions, the ignore streak, a lowered cadence."""

    model_config = ConfigDict(extra="forbid")

    suppressed: list[Suppression] = Field(default_factory=list)
    ignored: int = Field(0, description="Digests sent in a row without an open or click.")
    lowered_from: Cadence | None = Field(None, description="The cadence before the planner lowered it (P7).")
    lowered_at: datetime | None = None
    notice_pending: bool = False
    soft_bounces: int = 0
    since: datetime | None = Field(
        None, description="When the current cadence was chosen: slots before it are not caught up on."
    )


class TopicView(BaseModel):
    """One topic as the preference center shows it: locked required topics say why."""

    id: str
    name: str
    description: str
    state: TopicState
    locked: bool
    reason: str | None = None
    tags: list[str]


class PreferencesView(BaseModel):
    """Everything the preference center page needs for one person."""

    user_id: str
    channels: list[Channel]
    available_channels: list[Channel]
    email: str | None
    topics: list[TopicView]
    cadence: Cadence
    window: TimeRange
    quiet_hours: TimeRange | None
    timezone: str
    timezone_is_person_default: bool
    paused_until: datetime | None
    caps: list[Cap]
    suppressed: list[Suppression]
    lowered_from: Cadence | None
    notes: list[str] = Field(default_factory=list)


class FeedbackType(StrEnum):
    open = "open"
    click = "click"
    unsubscribe = "unsubscribe"
    complaint = "complaint"
    soft_bounce = "soft_bounce"
    hard_bounce = "hard_bounce"


class MessageFeedback(BaseModel):
    """A delivery or engagement report on one message (from a mail provider, a push service, a page)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"message_id": "m_0123456789abcdef0123", "type": "open"}]},
    )

    message_id: EntityId
    type: FeedbackType
    item_id: EntityId | None = Field(None, description="The clicked item, for clicks.")
    topic: TopicId | None = Field(None, description="For an unsubscribe: the topic (default: the message's).")
    at: AwareInstant | None = None


MESSAGE_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"


class RequiredMessage(BaseModel):
    """A one-off message on a required topic (a password reset, a security notice).

    Required topics cannot be switched off, so such a message goes out whatever the person
    unsubscribed from, at once (not held by the send window, quiet hours, a pause or caps,
    and not counted against caps). It still needs a channel that reaches the person: a
    channel suppressed by a hard bounce or complaint is never used.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "topic": "account",
                    "key": "reset-7f3a",
                    "subject": "Reset your password",
                    "text": "Someone asked to reset your password. Follow the link in the app to go on.",
                }
            ]
        },
    )

    topic: TopicId = Field(description="A required topic from the messaging settings.")
    key: Annotated[str, Field(pattern=MESSAGE_KEY_PATTERN)] = Field(
        description="The caller's idempotency key: sending the same key again returns the first message."
    )
    subject: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\r\n]+$")]
    text: Annotated[str, Field(min_length=1, max_length=20_000)]
    channel: Channel | None = Field(
        None,
        description="Where to send it; by default email when there is an address, else a chosen channel.",
    )


class OutboxStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    capped = "capped"
    cancelled = "cancelled"
    abandoned = "abandoned"


class DigestItem(BaseModel):
    item_id: str
    title: str
    url: str | None = None
    topics: list[str]
    reason: str


class OutboxMessage(BaseModel):
    """One planned message: its idempotency key, what it holds and where it stands."""

    id: str
    key: str = Field(description="The idempotency key: person, channel and period.")
    user_id: EntityId
    channel: Channel
    period: str
    kind: Literal["personal", "general", "notice", "required"]
    topics: list[str]
    items: list[DigestItem]
    subject: str | None = Field(None, description="A required message's subject (digests: by kind).")
    text: str | None = Field(None, description="A required message's body, plain text.")
    notes: list[str] = Field(default_factory=list)
    links: dict[str, str] = Field(default_factory=dict, description="Signed unsubscribe and restore links.")
    status: OutboxStatus
    reason: str | None = None
    planned_at: datetime
    send_after: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    recommendation_id: str | None = None
    local_day: int = Field(description="The person's local calendar day (ordinal) it counts on for caps.")
