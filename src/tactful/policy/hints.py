"""Taking a hint (P7): impression discounting per item and back-off for people who keep ignoring us.

Impressions come from the events clients send (type ``impression``): only the client
knows what was actually on screen. The back-off counter instead counts personalized
slots the engine served, so it works even for clients that report no impressions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tactful.domain.recommendation import Reason
from tactful.policy.decision import PolicyContext, RuleOutcome
from tactful.signals.profile import DAY, Profile

PERSONAL_CODES = frozenset({"matches_interest", "stated_interest", "because_you_liked", "similar_people"})
"""Reason codes that mark a slot as personalized (as opposed to general or exploring)."""


class ImpressionDiscountRule:
    """An item shown ``threshold`` times without engagement is cooled down for ``cooldown_days``."""

    name = "impression_discount"

    def __init__(self, threshold: int = 3, multiplier: float = 0.25, cooldown_days: float = 14.0) -> None:
        self.threshold = threshold
        self.multiplier = multiplier
        self.cooldown_days = cooldown_days

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        cat = ctx.catalog
        arrays = ctx.arrays
        horizon = ctx.now - self.cooldown_days * DAY
        last = arrays.item_last_impression  # 0.0 when never shown
        rows = np.flatnonzero((arrays.item_unengaged >= self.threshold) & (last >= horizon))
        mult = np.ones(cat.size)
        mult[arrays.item_pos[rows]] = self.multiplier
        counts = dict(zip(arrays.item_pos[rows].tolist(), arrays.item_unengaged[rows].tolist(), strict=True))

        def explain(pos: int) -> Reason:
            return Reason(
                code="cooled_down",
                message=f"shown {counts.get(pos, self.threshold)} times without a response; "
                f"resting for up to {self.cooldown_days:g} days",
                item_id=cat.item_ids[pos],
                weight=self.multiplier,
            )

        return RuleOutcome(self.name, None, mult if counts else None, explain)


@dataclass(frozen=True)
class BackoffCounter:
    """Personalized slots served since the person's last positive signal."""

    ignored_slots: int = 0
    counted_since: float = 0.0
    backoff_since: float | None = None


def last_positive(profile: Profile) -> float | None:
    """The latest positive signal the person gave on any item or tag."""
    times = [s.last_engaged for s in profile.items.values() if s.last_engaged is not None]
    times += [i.last_positive for i in profile.interests.values() if i.last_positive is not None]
    return max(times) if times else None


def backoff_status(counter: BackoffCounter, profile: Profile, threshold: int) -> BackoffCounter:
    """The counter brought up to date: any positive signal since it started resets it."""
    return refresh_backoff(counter, last_positive(profile))


def refresh_backoff(counter: BackoffCounter, latest: float | None) -> BackoffCounter:
    """The counter brought up to date given the person's ``latest`` positive signal."""
    if latest is not None and latest > counter.counted_since:
        return BackoffCounter(0, latest, None)
    return counter


def backing_off(counter: BackoffCounter, threshold: int) -> bool:
    return counter.ignored_slots >= threshold


def count_served(counter: BackoffCounter, personalized: int, threshold: int, now: float) -> BackoffCounter:
    """Add the personalized slots just served; record when back-off began."""
    ignored = counter.ignored_slots + personalized
    since = counter.backoff_since
    if ignored >= threshold and since is None:
        since = now
    return BackoffCounter(ignored, counter.counted_since, since)


def backoff_note(counter: BackoffCounter, threshold: int) -> Reason:
    return Reason(
        code="backing_off",
        message=f"you passed over {counter.ignored_slots} personalized suggestions, so we show "
        "general content until you show us what you like",
        evidence=counter.ignored_slots,
        weight=float(threshold),
    )
