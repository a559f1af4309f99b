"""Configurable rules that turn raw events into signed signals (P3)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tactful.domain.event import Event, Provenance
from tactful.domain.identifiers import check_tag
from tactful.errors import UnknownEventType


class ValueMode(StrEnum):
    """How an event's ``value`` shapes its weight."""

    fixed = "fixed"  # weight, value ignored
    rating = "rating"  # (value - center) * weight
    duration = "duration"  # below threshold seconds: skip_weight; otherwise weight
    tally = "count"  # weight * log1p(value): play counts and other tallies


class EventRule(BaseModel):
    """How one event type becomes a signal."""

    model_config = ConfigDict(extra="forbid")

    weight: float = Field(0.0, ge=-100, le=100)
    mode: ValueMode = ValueMode.fixed
    center: float = 3.0
    threshold: float = Field(30.0, ge=0)
    skip_weight: float = Field(-0.5, ge=-100, le=100)
    hard_negative: bool = False
    consumed: bool = False
    impression: bool = False
    provenance: Provenance = Provenance.observed
    needs_item: bool = True
    state: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{0,31}$")
    """The item state this event sets (P3: a like is a state, not a counter). Events naming
    the same state replace each other on an item: a repeat with the same meaning teaches
    nothing more, a different one (a new rating, a dislike after a like) takes the earlier
    statement back first. ``None``: every event adds (plays, views and other tallies)."""
    retracts: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{0,31}$")
    """The item state this event takes back (an undo): the statement held there is removed
    as if it had not been made, and a dislike held there no longer excludes the item."""

    @model_validator(mode="after")
    def _states_need_items(self) -> EventRule:
        if (self.state or self.retracts) and not self.needs_item:
            raise ValueError("an event that sets or retracts an item state needs an item (needs_item)")
        if self.state and self.retracts:
            raise ValueError("an event either sets an item state or retracts one, not both")
        return self


def default_rules(short_play_seconds: float = 30.0) -> dict[str, EventRule]:
    """The built-in event types and what they mean."""
    exp = Provenance.explicit
    return {
        "impression": EventRule(weight=0.0, impression=True),
        "view": EventRule(weight=0.5),
        "click": EventRule(weight=1.0),
        "dwell": EventRule(weight=1.0, mode=ValueMode.duration, threshold=10.0, skip_weight=0.0),
        "play": EventRule(
            weight=1.0, mode=ValueMode.duration, threshold=short_play_seconds, skip_weight=-0.5
        ),
        "skip": EventRule(weight=-0.5),
        "complete": EventRule(weight=1.5, consumed=True),
        "save": EventRule(weight=3.0, provenance=exp, state="saved"),
        "unsave": EventRule(weight=0.0, provenance=exp, retracts="saved"),
        "like": EventRule(weight=4.0, provenance=exp, state="stance"),
        "dislike": EventRule(weight=-5.0, hard_negative=True, provenance=exp, state="stance"),
        "retract": EventRule(weight=0.0, provenance=exp, retracts="stance"),
        "rate": EventRule(weight=1.5, mode=ValueMode.rating, consumed=True, provenance=exp, state="stance"),
        "add_to_cart": EventRule(weight=2.0),
        "purchase": EventRule(weight=3.0, consumed=True),
        "search": EventRule(weight=1.0, needs_item=False),
        "dismiss": EventRule(weight=-3.0, hard_negative=True, provenance=exp, state="stance"),
        "share": EventRule(weight=3.0),
        "unsubscribe": EventRule(weight=0.0, needs_item=False, provenance=exp),
        "complaint": EventRule(weight=-5.0, hard_negative=True, needs_item=False, provenance=exp),
        "listen": EventRule(weight=1.0, mode=ValueMode.tally),
    }


@dataclass(frozen=True, slots=True)
class Signal:
    """An event interpreted: a signed weight on an item and, through it, on tags."""

    weight: float
    provenance: Provenance
    hard_negative: bool = False
    consumed: bool = False
    impression: bool = False
    context_tags: tuple[str, ...] = ()
    state: str | None = None
    """The item state this signal sets (see :attr:`EventRule.state`)."""
    statement: str = ""
    """What was said, for telling a repeat from a change: the event type and its value."""
    retracts: str | None = None

    @property
    def positive(self) -> bool:
        return self.weight > 0


SIGNAL_MEMO = 8192
"""Distinct interpreted signals :class:`SignalRules` keeps."""


class SignalRules:
    """The rule table: built-in defaults merged with operator overrides."""

    def __init__(
        self, overrides: dict[str, EventRule] | None = None, short_play_seconds: float = 30.0
    ) -> None:
        self.rules = default_rules(short_play_seconds)
        self.rules.update(overrides or {})
        self._signals: dict[tuple[str, float | None, Provenance | None, str | None], Signal] = {}

    def rule(self, event_type: str) -> EventRule:
        try:
            return self.rules[event_type]
        except KeyError:
            raise UnknownEventType(
                f"unknown event type {event_type!r}; known: {', '.join(sorted(self.rules))}",
                field="type",
            ) from None

    def interpret(self, event: Event) -> Signal:
        """Pure: the signal an event carries, before it meets a profile.

        A signal depends only on the event's type, value, provenance and context category,
        and batches repeat few of those: each is built once (a bounded memo).
        """
        if event.value == 0.0:  # 0.0 and -0.0 are one key but may say different things
            return self._interpret(event)
        category = event.context.category if event.context is not None else None
        key = (event.type, event.value, event.provenance, category)
        signal = self._signals.get(key)
        if signal is None:
            signal = self._interpret(event)
            if len(self._signals) >= SIGNAL_MEMO:
                self._signals.clear()
            self._signals[key] = signal
        return signal

    def _interpret(self, event: Event) -> Signal:
        rule = self.rule(event.type)
        weight = _weight(rule, event.value)
        context_tags: tuple[str, ...] = ()
        if event.context is not None and event.context.category:
            try:
                context_tags = (check_tag(event.context.category),)
            except ValueError:
                context_tags = ()
        return Signal(
            weight=weight,
            provenance=event.provenance or rule.provenance,
            hard_negative=rule.hard_negative,
            consumed=rule.consumed,
            impression=rule.impression,
            context_tags=context_tags,
            state=rule.state,
            statement=f"{event.type}:{weight:.12g}" if rule.state else "",
            retracts=rule.retracts,
        )


def _weight(rule: EventRule, value: float | None) -> float:
    if rule.mode is ValueMode.fixed or value is None:
        return rule.weight
    if rule.mode is ValueMode.rating:
        return (value - rule.center) * rule.weight
    if rule.mode is ValueMode.duration:
        return rule.skip_weight if value < rule.threshold else rule.weight
    return rule.weight * math.log1p(max(value, 0.0))
