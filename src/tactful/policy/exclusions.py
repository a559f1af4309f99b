"""Baseline exclusions: disliked (P2), already consumed, not available, and look-alikes of dislikes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tactful.domain.recommendation import Reason
from tactful.index.compiled_profile import PROVENANCES
from tactful.policy.decision import PolicyContext, RuleOutcome

EXPLICIT_BIT = 1 << PROVENANCES.index("explicit")


def _disliked(ctx: PolicyContext) -> np.ndarray:
    """Catalog positions of the items the person disliked or dismissed."""
    arrays = ctx.arrays
    return arrays.item_pos[arrays.item_disliked]


class DislikedRule:
    """A disliked or dismissed item never comes back (P2)."""

    name = "disliked"

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        disliked = _disliked(ctx)
        deny = None  # nothing denied
        if disliked.size:
            deny = np.zeros(ctx.catalog.size, dtype=bool)
            deny[disliked] = True
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
        arrays = ctx.arrays
        return _deny_positions(ctx, self.name, arrays.item_pos[arrays.item_consumed], "you already have this")


class OwnedRule:
    """On a surface that does not replay, items the person liked or saved stay out of the way.

    "Liked" is a positive explicit score on the item (like, save, a high rating); consumed
    items are the :class:`ConsumedRule`'s. A radio-style surface (``replay``) runs neither.
    """

    name = "owned"

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        arrays = ctx.arrays
        liked = arrays.item_pos[(arrays.item_positive_bits & EXPLICIT_BIT) != 0]
        return _deny_positions(ctx, self.name, liked, "you already liked or saved this")


def _deny_positions(ctx: PolicyContext, name: str, positions: np.ndarray, message: str) -> RuleOutcome:
    """Deny the catalog ``positions``, each with reason ``name`` and ``message``."""
    deny = None  # nothing denied
    if positions.size:
        deny = np.zeros(ctx.catalog.size, dtype=bool)
        deny[positions] = True
    return RuleOutcome(
        name, deny, None, lambda pos: Reason(code=name, message=message, item_id=ctx.catalog.item_ids[pos])
    )


class AvailabilityRule:
    """Items outside their availability window are not shown."""

    name = "availability"

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        cat = ctx.catalog
        deny = None if cat.derived.always_available else ~cat.available(ctx.now)  # None: nothing denied
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
        disliked = _disliked(ctx)
        if disliked.size == 0:
            return RuleOutcome(self.name, None, None, lambda pos: Reason(code="none", message=""))
        bad_tags = np.zeros(len(cat.tag_ids), dtype=bool)
        bad_tags[_row_columns(cat.item_tag, disliked)] = True
        creator = cat.derived.creator_tags
        shared = np.asarray(cat.item_tag @ bad_tags.astype(np.float32)).ravel()
        total = np.maximum(cat.derived.tag_counts, 1.0)
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


def _row_columns(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Column indices of the stored entries in ``rows`` of a CSR matrix (with repeats)."""
    indptr, indices = matrix.indptr, matrix.indices
    if rows.size == 1:
        return np.asarray(indices[indptr[rows[0]] : indptr[rows[0] + 1]])
    return np.concatenate([indices[indptr[r] : indptr[r + 1]] for r in rows])
