"""Turning a stored profile into the arrays scorers read, honouring consent (P4, P6, P9)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tactful.domain.person import Person
from tactful.index.catalog import CatalogIndex
from tactful.index.compiled_profile import CompiledProfile, provenance_arrays
from tactful.index.context import ScoringContext
from tactful.signals.profile import Engagement, Profile

STATED_WEIGHT = 4.0


@dataclass(frozen=True)
class PersonState:
    """A person's profile seen at one moment, ready for scoring."""

    person: Person
    profile: Profile
    engagement: Engagement
    allowed: frozenset[str]
    context: ScoringContext
    compiled: CompiledProfile | None = None


def person_state(
    catalog: CatalogIndex,
    person: Person,
    profile: Profile,
    now: float,
    half_lives: dict[str, float],
    engagement: Engagement,
    compiled: CompiledProfile | None = None,
) -> PersonState:
    """Build the scoring context.

    Only consented provenances count (P4). A positive tag interest counts only once it is
    established (P6); negative ones always count, so a dislike demotes at once (P2). Muted
    topics count for nothing (P8); stated interests count as explicit signals (P11).
    """
    if compiled is None or compiled.catalog_version != catalog.version:
        compiled = CompiledProfile.build(profile, catalog)
    consent = person.consent
    allowed = frozenset(p.value for p in consent.provenances) if consent.personalization else frozenset()
    if not consent.personalization:
        engagement = Engagement.new
    hl, mask = provenance_arrays(half_lives, allowed)
    tag_vector = np.zeros(len(catalog.tag_ids))
    values = compiled.tag_values(now, hl, mask)
    values = np.where((values > 0) & ~compiled.tag_established, 0.0, values)
    tag_vector[compiled.tag_pos] = values
    if "explicit" in allowed:
        for tag in person.stated_interests:
            pos = catalog.tag_index.get(tag)
            if pos is not None:
                tag_vector[pos] = max(tag_vector[pos], 0.0) + STATED_WEIGHT
    for tag in person.muted_topics:
        pos = catalog.tag_index.get(tag)
        if pos is not None:
            tag_vector[pos] = 0.0
    item_values = compiled.item_values(now, hl, mask)
    keep = item_values != 0.0
    ctx = ScoringContext(
        catalog=catalog,
        now=now,
        tag_vector=tag_vector,
        item_positions=compiled.item_pos[keep],
        item_weights=item_values[keep],
        item_times=compiled.item_times[keep],
        person_id=person.id,
    )
    return PersonState(person, profile, engagement, allowed, ctx, compiled)
