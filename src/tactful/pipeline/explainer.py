"""Machine-readable reasons for every recommended item (P12)."""

from __future__ import annotations

import numpy as np

from tactful.domain.recommendation import Reason
from tactful.index.person_state import PersonState
from tactful.policy.decision import Action, Decision
from tactful.scoring.blend import Blend
from tactful.scoring.content import tag_overlap

SHARE = 0.15
SOFT_DEMOTIONS = frozenset({"similar_to_disliked", "skipped"})
"""Demotions named as a reason only when they cut the item's score by at least ``SHARE``,
and only when they outweigh an interest reason on the same tag (a card never says both
"matches your interest in ambient" and "shares ambient with something you disliked")."""
MAX_LIKED = 64


def reasons_for(
    pos: int,
    state: PersonState,
    mix: Blend,
    decisions: list[Decision],
    half_lives: dict[str, float],
    liked: int | None = None,
) -> list[Reason]:
    """Why item ``pos`` is in the list: its main score components, then policy effects."""
    contributions = sorted(((float(part[pos]), name) for name, part in mix.parts.items()), reverse=True)
    positive_total = sum(c for c, _ in contributions if c > 0) or 1.0
    reasons: list[Reason] = []
    for value, name in contributions:
        if value <= 0 or value < SHARE * positive_total:
            continue
        reason = _component_reason(name, pos, state, value / positive_total, half_lives, liked)
        if reason is not None:
            reasons.append(reason)
    for decision in decisions:
        if decision.action is Action.allow:
            continue
        if decision.action is Action.multiply and decision.rule in SOFT_DEMOTIONS:
            cut = 1.0 - decision.multiplier
            if cut < SHARE:
                continue  # it barely moved the item: not a reason for where it stands
            against = [r for r in reasons if decision.reason.tag is not None and r.tag == decision.reason.tag]
            if against and max(r.weight or 0.0 for r in against) > cut:
                continue  # the interest outweighs the demotion: say only the dominant one
            reasons = [r for r in reasons if r not in against]
        reasons.append(decision.reason)
    if not reasons:
        reasons.append(Reason(code="popular", message="popular with others", weight=0.0))
    return reasons


def _component_reason(
    name: str,
    pos: int,
    state: PersonState,
    share: float,
    half_lives: dict[str, float],
    liked: int | None,
) -> Reason | None:
    cat = state.context.catalog
    weight = round(share, 3)
    if name == "popularity":
        return Reason(code="popular", message="popular with others", weight=weight)
    if name == "trending":
        return Reason(code="trending", message="trending right now", weight=weight)
    if name == "content":
        return _interest_reason(pos, state, weight, half_lives)
    if name == "collaborative":
        if liked is None:
            return Reason(code="similar_people", message="liked by people with similar taste", weight=weight)
        return Reason(
            code="because_you_liked",
            message=f"because you liked {cat.items[liked].title or cat.item_ids[liked]}",
            item_id=cat.item_ids[liked],
            weight=weight,
        )
    return Reason(code=name, message=f"scored by {name}", weight=weight)


def _interest_reason(
    pos: int, state: PersonState, weight: float, half_lives: dict[str, float]
) -> Reason | None:
    cat = state.context.catalog
    vector = state.context.tag_vector
    best: tuple[float, str] | None = None
    for tag in cat.items[pos].tags:
        tpos = cat.tag_index.get(tag)
        if tpos is not None and vector[tpos] > 0 and (best is None or vector[tpos] > best[0]):
            best = (float(vector[tpos]), tag)
    if best is None:
        return None
    tag = best[1]
    interest = state.profile.interests.get(tag)
    stated = tag in state.person.stated_interests
    by_prov = interest.scores.by_provenance(state.context.now, half_lives) if interest else {}
    return Reason(
        code="stated_interest" if stated else "matches_interest",
        message=f"matches your interest in {cat.tag_labels.get(tag, tag)}",
        tag=tag,
        evidence=len(interest.evidence) if interest else 0,
        provenance=sorted(p for p, v in by_prov.items() if v > 0 and p in state.allowed)
        + (["explicit"] if stated and not interest else []),
        weight=weight,
    )


def closest_liked(state: PersonState, chosen: np.ndarray, since: float | None = None) -> dict[int, int]:
    """For each chosen item, the liked item sharing most tags with it (else the latest liked).

    Only items liked at ``since`` or later may be cited (an old phase is not the reason
    shown, P9), and never the chosen item itself: an item is not explained by itself. A
    chosen item with nothing left to cite is absent. One small product for the whole list.
    """
    ctx = state.context
    liking = ctx.item_weights > 0
    if since is not None:
        liking &= ctx.item_times >= since
    positive = np.flatnonzero(liking)
    if positive.size == 0 or chosen.size == 0:
        return {}
    if positive.size > MAX_LIKED:  # the strongest likes explain best, and keep this cheap
        strongest = np.argpartition(-ctx.item_weights[positive], MAX_LIKED - 1)[:MAX_LIKED]
        positive = np.sort(positive[strongest])
    liked = ctx.item_positions[positive]
    overlap = tag_overlap(ctx.catalog.item_tag_norm, liked, chosen)
    overlap[liked[:, None] == chosen[None, :]] = -1.0  # never the item itself
    best = overlap.argmax(axis=0)
    recent = liked[np.argsort(-ctx.item_times[positive], kind="stable")[:2]]
    out: dict[int, int] = {}
    for k, pos in enumerate(chosen.tolist()):
        if overlap[best[k], k] > 0:
            out[pos] = int(liked[best[k]])
            continue
        other = [int(p) for p in recent if int(p) != pos]
        if other:
            out[pos] = other[0]
    return out
