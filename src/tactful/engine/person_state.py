"""Turning a stored profile into the arrays scorers read, honouring consent (P4, P6, P9)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tactful.domain.person import Person
from tactful.engine.catalog import CatalogIndex
from tactful.scoring.context import ScoringContext
from tactful.signals.profile import Engagement, Profile


@dataclass(frozen=True)
class PersonState:
    """A person's profile seen at one moment, ready for scoring."""

    person: Person
    profile: Profile
    engagement: Engagement
    allowed: frozenset[str]
    context: ScoringContext


def person_state(
    catalog: CatalogIndex,
    person: Person,
    profile: Profile,
    now: float,
    half_lives: dict[str, float],
    engagement: Engagement,
) -> PersonState:
    """Build the scoring context.

    Only consented provenances count (P4). A positive tag interest counts only once it is
    established (P6); negative ones always count, so a dislike demotes at once (P2).
    """
    consent = person.consent
    allowed = frozenset(p.value for p in consent.provenances) if consent.personalization else frozenset()
    if not consent.personalization:
        engagement = Engagement.new
    tag_vector = np.zeros(len(catalog.tag_ids))
    muted = set(person.muted_topics)
    for tag, interest in profile.interests.items():
        pos = catalog.tag_index.get(tag)
        if pos is None or tag in muted:
            continue
        value = interest.scores.value(now, half_lives, allowed)
        if value > 0 and not interest.established:
            continue
        tag_vector[pos] = value
    for tag in person.stated_interests:
        pos = catalog.tag_index.get(tag)
        if pos is not None and tag not in muted and "explicit" in allowed:
            tag_vector[pos] = max(tag_vector[pos], 0.0) + 4.0
    positions: list[int] = []
    weights: list[float] = []
    times: list[float] = []
    for item_id, state in profile.items.items():
        pos = catalog.index.get(item_id)
        if pos is None:
            continue
        value = state.scores.value(now, half_lives, allowed)
        if value == 0.0:
            continue
        positions.append(pos)
        weights.append(value)
        times.append(state.last_engaged or state.last_impression or 0.0)
    ctx = ScoringContext(
        catalog=catalog,
        now=now,
        tag_vector=tag_vector,
        item_positions=np.array(positions, dtype=np.int64),
        item_weights=np.array(weights),
        item_times=np.array(times),
    )
    return PersonState(person, profile, engagement, allowed, ctx)
