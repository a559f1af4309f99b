"""A person's learned state, and the pure function that folds a signal into it (P1, P3, P6, P9)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache

from tactful.signals.rules import Signal

DAY = 86_400.0


class Engagement(StrEnum):
    new = "new"
    warming = "warming"
    engaged = "engaged"


def decay(score: float, since: float, now: float, half_life_days: float) -> float:
    """``score`` recorded at ``since`` seen from ``now``, halving every ``half_life_days``."""
    if now <= since:
        return score
    return score * math.pow(0.5, (now - since) / (half_life_days * DAY))


@dataclass(slots=True)
class DecayedScores:
    """One decayed score per provenance, each with the epoch time it was last brought to."""

    parts: dict[str, list[float]] = field(default_factory=dict)

    def add(self, provenance: str, weight: float, at: float, half_life_days: float) -> None:
        current = self.parts.get(provenance)
        if current is None:
            self.parts[provenance] = [weight, at]
            return
        score, since = current
        if at >= since:
            self.parts[provenance] = [decay(score, since, at, half_life_days) + weight, at]
        else:
            self.parts[provenance] = [score + decay(weight, at, since, half_life_days), since]

    def value(self, now: float, half_lives: dict[str, float], allowed: Iterable[str] | None = None) -> float:
        keep = None if allowed is None else set(allowed)
        return sum(
            decay(score, since, now, half_lives.get(prov, 30.0))
            for prov, (score, since) in self.parts.items()
            if keep is None or prov in keep
        )

    def by_provenance(self, now: float, half_lives: dict[str, float]) -> dict[str, float]:
        return {
            prov: decay(score, since, now, half_lives.get(prov, 30.0))
            for prov, (score, since) in self.parts.items()
        }


@dataclass(slots=True)
class TagInterest:
    """Interest in one tag: decayed scores, distinct evidence keys, last positive time."""

    scores: DecayedScores = field(default_factory=DecayedScores)
    evidence: list[str] = field(default_factory=list)
    last_positive: float | None = None
    established: bool = False


@dataclass(slots=True)
class ItemState:
    """What one person did with one item."""

    scores: DecayedScores = field(default_factory=DecayedScores)
    disliked: bool = False
    consumed: bool = False
    impressions: int = 0
    last_impression: float | None = None
    last_engaged: float | None = None
    unengaged: int = 0  # impressions since the last positive signal on this item (P7)


@dataclass(slots=True)
class Profile:
    """Everything learned about a person; mutated only by :func:`apply_signal`."""

    user_id: str
    interests: dict[str, TagInterest] = field(default_factory=dict)
    items: dict[str, ItemState] = field(default_factory=dict)
    positive_signals: int = 0
    active_days: list[int] = field(default_factory=list)
    dirty_tags: set[str] = field(default_factory=set)
    dirty_items: set[str] = field(default_factory=set)
    version: int = 0
    """The person version this state was read at (the store bumps it on every write)."""

    def engagement(self, warming_after: int, engaged_after: int, engaged_min_days: int) -> Engagement:
        if self.positive_signals < warming_after:
            return Engagement.new
        if self.positive_signals >= engaged_after and len(self.active_days) >= engaged_min_days:
            return Engagement.engaged
        return Engagement.warming

    def hard_negatives(self) -> set[str]:
        return {item for item, state in self.items.items() if state.disliked}

    def consumed(self) -> set[str]:
        return {item for item, state in self.items.items() if state.consumed}


@dataclass(frozen=True, slots=True)
class ProfileRules:
    """The thresholds :func:`apply_signal` needs, copied from settings."""

    half_lives: dict[str, float]
    evidence_threshold: int = 3
    max_evidence_keys: int = 32
    max_active_days: int = 366


def evidence_key(at: float, session: str | None) -> str:
    """Distinct evidence is counted per session when known, else per UTC day."""
    if session:
        return f"s:{session}"
    return _day_key(int(at // DAY))


@lru_cache(maxsize=4096)
def _day_key(day: int) -> str:
    return "d:" + datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")


def apply_signal(
    profile: Profile,
    signal: Signal,
    item_id: str | None,
    item_tags: Iterable[str],
    at: float,
    rules: ProfileRules,
    session: str | None = None,
    muted: frozenset[str] = frozenset(),
) -> None:
    """Fold one signal into the profile. Muted tags are never learned (P8)."""
    half_life = rules.half_lives.get(signal.provenance.value, 30.0)
    prov = signal.provenance.value
    if item_id is not None:
        state = profile.items.get(item_id)
        if state is None:
            state = profile.items[item_id] = ItemState()
        if signal.impression:
            state.impressions += 1
            state.last_impression = max(state.last_impression or at, at)
            state.unengaged += 1
        if signal.weight != 0.0:
            state.scores.add(prov, signal.weight, at, half_life)
        if signal.positive:
            state.last_engaged = max(state.last_engaged or at, at)
            state.unengaged = 0
        state.disliked = state.disliked or signal.hard_negative
        state.consumed = state.consumed or signal.consumed
        profile.dirty_items.add(item_id)
    if signal.weight == 0.0:
        return
    tags = [t for t in (*item_tags, *signal.context_tags) if t not in muted]
    if tags:
        share = signal.weight / math.sqrt(len(tags))
        key = evidence_key(at, session)
        for tag in tags:
            interest = profile.interests.get(tag)
            if interest is None:
                interest = profile.interests[tag] = TagInterest()
            interest.scores.add(prov, share, at, half_life)
            if signal.positive:
                interest.last_positive = max(interest.last_positive or at, at)
                if key not in interest.evidence:
                    interest.evidence.append(key)
                    if len(interest.evidence) > rules.max_evidence_keys:
                        interest.evidence.pop(0)
                        interest.established = True
                if len(interest.evidence) >= rules.evidence_threshold:
                    interest.established = True
            profile.dirty_tags.add(tag)
    if signal.positive:
        profile.positive_signals += 1
        day = int(at // DAY)
        if day not in profile.active_days:
            profile.active_days.append(day)
            profile.active_days.sort()
            del profile.active_days[: -rules.max_active_days]


def mark_stated(profile: Profile, tag: str, at: float) -> None:
    """A stated interest is a positive signal on its tag at ``at`` (it carries no score:
    the stated weight applies while the statement stands)."""
    interest = profile.interests.get(tag)
    if interest is None:
        interest = profile.interests[tag] = TagInterest()
    interest.last_positive = max(interest.last_positive or at, at)
    profile.dirty_tags.add(tag)


def forget_tag(profile: Profile, tag: str) -> None:
    """Delete an inferred interest (mute or removal, P8/P11)."""
    if profile.interests.pop(tag, None) is not None:
        profile.dirty_tags.add(tag)


@dataclass(frozen=True, slots=True)
class ProfileDelta:
    """What changed in a person's profile after some version: the rows written since, whole.

    A cached profile at that version plus this delta equals the stored profile at
    ``version`` (rows are only ever replaced or added between resets; a write that deletes
    rows moves the person's reset version, and then no delta is offered).
    """

    version: int
    positive_signals: int
    active_days: list[int]
    interests: dict[str, TagInterest]
    items: dict[str, ItemState]

    def applied_to(self, profile: Profile) -> Profile:
        """A new profile: ``profile`` with these rows replaced (``profile`` is not changed)."""
        interests = dict(profile.interests)
        interests.update(self.interests)
        items = dict(profile.items)
        items.update(self.items)
        return Profile(
            profile.user_id,
            interests=interests,
            items=items,
            positive_signals=self.positive_signals,
            active_days=list(self.active_days),
            version=self.version,
        )
