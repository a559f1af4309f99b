"""Taking a hint (P7): impression discounting per item and back-off for people who keep ignoring us.

Impressions come from the events clients send (type ``impression``): only the client
knows what was actually on screen. The back-off counter instead counts personalized
slots the engine served, so it works even for clients that report no impressions; to count
what the person saw rather than what was served, served lists are deduplicated per visit:
every list served within ``visit_minutes`` (a setting) of the first one counted forms one visit, and
the visit counts the most personalized slots any of its lists held, once. A reload (the
same list again, or a shorter one) therefore moves nothing.
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
    """Personalized slots served since the person's last positive signal.

    ``visit_start`` is when the current visit's first counted list was served and
    ``visit_slots`` the most personalized slots one of its lists held (already counted).
    """

    ignored_slots: int = 0
    counted_since: float = 0.0
    backoff_since: float | None = None
    visit_start: float | None = None
    visit_slots: int = 0


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


def count_served(
    counter: BackoffCounter,
    personalized: int,
    threshold: int,
    now: float,
    visit_seconds: float = 0.0,
) -> BackoffCounter:
    """Add the personalized slots just served, once per visit; record when back-off began.

    Within ``visit_seconds`` of the visit's first counted list only slots beyond the most
    any earlier list of the visit held are added, so a reload counts nothing; the counter
    comes back unchanged (equal) then.
    """
    start, most = counter.visit_start, counter.visit_slots
    if start is not None and start <= now < start + visit_seconds:
        added = max(personalized - most, 0)
        most = max(most, personalized)
    else:
        added, start, most = personalized, now, personalized
        if personalized == 0:  # nothing counted: no visit begins
            return counter
    if added == 0 and start == counter.visit_start and most == counter.visit_slots:
        return counter
    ignored = counter.ignored_slots + added
    since = counter.backoff_since
    if ignored >= threshold and since is None:
        since = now
    return BackoffCounter(ignored, counter.counted_since, since, start, most)


def backoff_note(counter: BackoffCounter, threshold: int) -> Reason:
    return Reason(
        code="backing_off",
        message=f"you passed over {counter.ignored_slots} personalized suggestions, so we show "
        "general content until you show us what you like",
        evidence=counter.ignored_slots,
        weight=float(threshold),
    )
