"""Baseline exclusions: disliked (P2), already consumed, not available, and look-alikes of dislikes."""

from __future__ import annotations

import numpy as np

from tactful.domain.recommendation import Reason
from tactful.policy.decision import PolicyContext, RuleOutcome


def _positions(ctx: PolicyContext, ids: set[str]) -> np.ndarray:
    index = ctx.catalog.index
    return np.array([index[i] for i in ids if i in index], dtype=np.int64)


class DislikedRule:
    """A disliked or dismissed item never comes back (P2)."""

    name = "disliked"

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        deny = np.zeros(ctx.catalog.size, dtype=bool)
        deny[_positions(ctx, ctx.profile.hard_negatives())] = True
        return RuleOutcome(
            self.name,
            deny,
            None,
            lambda pos: Reason(
                code="disliked",
                message="you said you did not want this",
                item_id=ctx.catalog.item_ids[pos],
            ),
        )


class ConsumedRule:
    """Items the person already bought, finished or rated are not recommended again."""

    name = "consumed"

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        deny = np.zeros(ctx.catalog.size, dtype=bool)
        deny[_positions(ctx, ctx.profile.consumed())] = True
        return RuleOutcome(
            self.name,
            deny,
            None,
            lambda pos: Reason(
                code="consumed", message="you already have this", item_id=ctx.catalog.item_ids[pos]
            ),
        )


class AvailabilityRule:
    """Items outside their availability window are not shown."""

    name = "availability"

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        deny = ~ctx.catalog.available(ctx.now)
        return RuleOutcome(
            self.name,
            deny,
            None,
            lambda pos: Reason(code="unavailable", message="not available at this time"),
        )


class SimilarToDislikedRule:
    """Items sharing tags with something disliked are demoted at once (P2).

    The multiplier falls with the share of the item's tags that also sit on disliked
    items: ``1 - (1 - penalty) * shared / total``; a shared ``creator:`` tag counts fully.
    """

    name = "similar_to_disliked"

    def __init__(self, penalty: float = 0.5) -> None:
        self.penalty = penalty

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        cat = ctx.catalog
        size = cat.size
        disliked = _positions(ctx, ctx.profile.hard_negatives())
        if disliked.size == 0:
            return RuleOutcome(self.name, None, None, lambda pos: Reason(code="none", message=""))
        bad_tags = np.asarray(cat.item_tag[disliked].sum(axis=0)).ravel() > 0
        creator = np.array([t.startswith("creator:") for t in cat.tag_ids], dtype=bool)
        shared = np.asarray(cat.item_tag @ bad_tags.astype(np.float32)).ravel()
        total = np.maximum(np.asarray(cat.item_tag.sum(axis=1)).ravel(), 1.0)
        fraction = np.minimum(shared / total, 1.0)
        if creator.any():
            same_creator = np.asarray(cat.item_tag @ (bad_tags & creator).astype(np.float32)).ravel() > 0
            fraction = np.where(same_creator, 1.0, fraction)
        multiplier = 1.0 - (1.0 - self.penalty) * fraction
        multiplier[disliked] = 1.0
        bad_set = {cat.tag_ids[i] for i in np.flatnonzero(bad_tags)}

        def explain(pos: int) -> Reason:
            tags = [t for t in cat.items[pos].tags if t in bad_set]
            return Reason(
                code="similar_to_disliked",
                message="shares " + ", ".join(tags[:3]) + " with something you disliked",
                tag=tags[0] if tags else None,
                weight=float(multiplier[pos]),
            )

        return RuleOutcome(self.name, None, multiplier if size else None, explain)
