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
    """Items sharing tags with something disliked are demoted at once, in proportion (P2).

    Each tag on a disliked item weighs ``s·d / (d + (1 - s)·e)``: its specificity ``s``
    (:func:`~tactful.index.catalog.tag_specificity`: a creator 1, a series or a mood more
    than a genre), the disliked items carrying it ``d``, and the person's own positive
    evidence for it ``e`` (distinct days or sessions). A creator stays fully demoted; a
    genre someone has liked on many days hardly moves for one item. An item is demoted by
    its heaviest tag: ``1 - (1 - penalty) · weight``, and its reason names that tag.
    """

    name = "similar_to_disliked"

    def __init__(self, penalty: float = 0.5) -> None:
        self.penalty = penalty

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        cat = ctx.catalog
        size = cat.size
        disliked = _disliked(ctx)
        if disliked.size == 0 or size == 0:
            return RuleOutcome(self.name, None, None, lambda pos: Reason(code="none", message=""))
        weights = dislike_tag_weights(ctx, disliked)
        bad = np.flatnonzero(weights > 0)
        if bad.size == 0:
            return RuleOutcome(self.name, None, None, lambda pos: Reason(code="none", message=""))
        columns = cat.derived.item_tag_csc[:, bad].tocsr()
        heaviest = np.zeros(size)
        which = np.full(size, -1, dtype=np.int64)
        rows = np.repeat(np.arange(size), np.diff(columns.indptr))
        if rows.size:
            tag_weight = weights[bad][columns.indices]
            order = np.lexsort((-tag_weight, rows))  # per item, its heaviest tag first
            first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
            heaviest[rows[first]] = tag_weight[first]
            which[rows[first]] = bad[columns.indices[first]]
        multiplier = 1.0 - (1.0 - self.penalty) * heaviest
        multiplier[disliked] = 1.0

        def explain(pos: int) -> Reason:
            tag = cat.tag_ids[int(which[pos])] if which[pos] >= 0 else None
            label = cat.tag_labels.get(tag, tag) if tag else "a tag"
            return Reason(
                code="similar_to_disliked",
                message=f"shares {label} with something you disliked",
                tag=tag,
                weight=float(multiplier[pos]),
            )

        return RuleOutcome(self.name, None, multiplier, explain)


class PassedOverRule:
    """A skip is felt on the item too (P3): an item whose own signals add up negative (short
    plays, skips) is demoted by ``1 / (1 + rate·|weight|)`` while that weight lasts (it
    decays like every signal). Dislikes are the :class:`DislikedRule`'s."""

    name = "skipped"

    def __init__(self, rate: float = 1.0) -> None:
        self.rate = rate

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        scoring = ctx.scoring
        none = RuleOutcome(self.name, None, None, lambda pos: Reason(code="none", message=""))
        if scoring is None or self.rate == 0.0 or scoring.item_weights.size == 0:
            return none
        negative = scoring.item_weights < 0.0
        if not negative.any():
            return none
        multiplier = np.ones(ctx.catalog.size)
        multiplier[scoring.item_positions[negative]] = 1.0 / (
            1.0 + self.rate * -scoring.item_weights[negative]
        )
        multiplier[_disliked(ctx)] = 1.0  # denied by the dislike itself
        return RuleOutcome(
            self.name,
            None,
            multiplier,
            lambda pos: Reason(
                code="skipped", message="you skipped this recently", weight=float(multiplier[pos])
            ),
        )


def dislike_tag_weights(ctx: PolicyContext, disliked: np.ndarray) -> np.ndarray:
    """Per catalog tag, how strongly the person's dislikes speak against it, in [0, 1]."""
    cat = ctx.catalog
    arrays = ctx.arrays
    count = np.zeros(len(cat.tag_ids))
    np.add.at(count, _row_columns(cat.item_tag, disliked), 1.0)
    evidence = np.zeros(len(cat.tag_ids))
    evidence[arrays.tag_pos] = arrays.tag_evidence
    spec = cat.derived.tag_specificity
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(count > 0, spec * count / (count + (1.0 - spec) * evidence), 0.0)
    return np.asarray(np.clip(weights, 0.0, 1.0))


def _row_columns(matrix: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Column indices of the stored entries in ``rows`` of a CSR matrix (with repeats)."""
    indptr, indices = matrix.indptr, matrix.indices
    if rows.size == 1:
        return np.asarray(indices[indptr[rows[0]] : indptr[rows[0] + 1]])
    return np.concatenate([indices[indptr[r] : indptr[r + 1]] for r in rows])
