"""The interest gate: which learned interests may drive personalization, and why not (P4, P6–P9, P11).

Runs before scoring. Each tag interest is either *used* (its decayed, consented score goes
into the tag vector the scorers read) or *withheld* with a reason the person can read:
muted, removed, not yet established, outside the retargeting window, stale, or only
supported by provenances they did not consent to. Sensitive tags the person did not opt
in to are withheld silently: they must not appear in explanations either (P8). Stated
interests override inference (P11). Everything here is a pure function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tactful.domain.person import Person
from tactful.domain.recommendation import Reason
from tactful.engine.catalog import CatalogIndex
from tactful.signals.profile import DAY, Profile, TagInterest


@dataclass(frozen=True)
class GateConfig:
    """Thresholds copied from settings."""

    evidence_threshold: int = 3
    retarget_window_days: float = 30.0
    stale_below: float = 0.2
    recency_half_life_days: float = 14.0
    stated_weight: float = 4.0


@dataclass(frozen=True)
class InterestGate:
    """The gated tag vector, which of the person's items may drive scores, and what was withheld."""

    tag_vector: np.ndarray
    used: dict[str, float]
    withheld: list[Reason] = field(default_factory=list)


def opted_out_categories(person: Person, categories: frozenset[str]) -> frozenset[str]:
    """The sensitive categories among ``categories`` the person has not opted in to."""
    return categories - frozenset(person.consent.sensitive_opt_in)


def hidden_tags(person: Person, catalog: CatalogIndex) -> frozenset[str]:
    """Tags that may never drive anything for this person: muted, removed, sensitive without opt-in."""
    opted = frozenset(person.consent.sensitive_opt_in)
    sensitive = {t for t, c in catalog.tag_sensitive.items() if c not in opted}
    return frozenset(person.muted_topics) | frozenset(person.blocked_interests) | sensitive


def item_may_drive(person: Person, catalog: CatalogIndex, positions: np.ndarray) -> np.ndarray:
    """Mask over ``positions``: items whose engagement may drive scores (no hidden tag, no sensitivity)."""
    hidden = hidden_tags(person, catalog)
    opted = frozenset(person.consent.sensitive_opt_in)
    keep = np.ones(len(positions), dtype=bool)
    for k, pos in enumerate(positions):
        item = catalog.items[int(pos)]
        if catalog.sensitive[int(pos)] - opted or any(t in hidden for t in item.tags):
            keep[k] = False
    return keep


def _withhold(
    tag: str, interest: TagInterest, value: float, full: float, now: float, cfg: GateConfig, label: str
) -> Reason | None:
    """Why a positive inferred interest is withheld, or None when it may drive scores."""
    if value <= 0.0 < full:
        return Reason(
            code="not_consented",
            message=f"your interest in {label} rests only on data you have not allowed us to use",
            tag=tag,
        )
    if not interest.established:
        have = len(interest.evidence)
        return Reason(
            code="not_established",
            message=f"{label}: {have} of {cfg.evidence_threshold} independent signals so far; "
            "not used until established",
            tag=tag,
            evidence=have,
        )
    last = interest.last_positive
    if last is None or now - last > cfg.retarget_window_days * DAY:
        days = "ever" if last is None else f"{(now - last) / DAY:.0f} days"
        return Reason(
            code="retarget_window",
            message=f"no positive signal on {label} for {days} "
            f"(window {cfg.retarget_window_days:g} days); no longer used",
            tag=tag,
            evidence=len(interest.evidence),
        )
    if value < cfg.stale_below:
        return Reason(
            code="stale",
            message=f"your interest in {label} has faded (score {value:.2f}); no longer used",
            tag=tag,
            weight=round(value, 4),
        )
    return None


def gate_interests(
    catalog: CatalogIndex,
    person: Person,
    profile: Profile,
    now: float,
    half_lives: dict[str, float],
    allowed: frozenset[str],
    cfg: GateConfig,
) -> InterestGate:
    """Decide, tag by tag, what may drive this person's recommendations."""
    vector = np.zeros(len(catalog.tag_ids))
    used: dict[str, float] = {}
    withheld: list[Reason] = []
    if not person.consent.personalization:
        return InterestGate(vector, used, withheld)
    hidden = hidden_tags(person, catalog)
    muted = frozenset(person.muted_topics)
    stated = frozenset(person.stated_interests)
    for tag, interest in profile.interests.items():
        pos = catalog.tag_index.get(tag)
        if pos is None or tag in hidden:
            if tag in muted:
                withheld.append(Reason(code="muted", message=f"you muted {tag}", tag=tag))
            continue
        value = interest.scores.value(now, half_lives, allowed)
        if value < 0.0:
            vector[pos] = value  # a dislike demotes at once, established or not (P2)
            continue
        full = interest.scores.value(now, half_lives)
        if tag in stated or (value == 0.0 and full <= 0.0):
            continue
        label = catalog.tag_labels.get(tag, tag)
        reason = _withhold(tag, interest, value, full, now, cfg, label)
        if reason is not None:
            withheld.append(reason)
            continue
        last = interest.last_positive if interest.last_positive is not None else now
        value *= 0.5 ** (max(now - last, 0.0) / (cfg.recency_half_life_days * DAY))
        vector[pos] = value
        used[tag] = value
    if "explicit" in allowed:
        for tag in stated:
            pos = catalog.tag_index.get(tag)
            if pos is None or tag in hidden:
                continue
            vector[pos] = max(vector[pos], 0.0) + cfg.stated_weight
            used[tag] = float(vector[pos])
    return InterestGate(vector, used, withheld)


def ungated_vector(
    catalog: CatalogIndex, person: Person, profile: Profile, now: float, half_lives: dict[str, float]
) -> np.ndarray:
    """The plain-recommender baseline: every learned tag and provenance counts, nothing is withheld."""
    vector = np.zeros(len(catalog.tag_ids))
    for tag, interest in profile.interests.items():
        pos = catalog.tag_index.get(tag)
        if pos is not None:
            vector[pos] = interest.scores.value(now, half_lives)
    for tag in person.stated_interests:
        pos = catalog.tag_index.get(tag)
        if pos is not None:
            vector[pos] = max(vector[pos], 0.0) + 4.0
    return vector


def unlearnable_tags(
    person: Person, catalog: CatalogIndex, item_id: str | None, item_tags: list[str]
) -> frozenset[str]:
    """Tags a signal must not teach (P8, P11): muted, removed, sensitive without opt-in.

    A signal on an item in a sensitive category the person has not opted in to teaches no
    tag at all, so sensitive behaviour cannot leak into neighbouring, non-sensitive tags.
    """
    hidden = hidden_tags(person, catalog)
    if item_id is not None:
        pos = catalog.index.get(item_id)
        if pos is not None and opted_out_categories(person, catalog.sensitive[pos]):
            return hidden | frozenset(item_tags)
    return hidden
