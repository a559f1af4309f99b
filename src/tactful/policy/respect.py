"""Rules that keep promises to the person: consent (P4), sensitivity (P8), mutes (P8).

Each is a pure function of the :class:`~tactful.policy.decision.PolicyContext` returning a
deny mask and a reason per item; none of them can be switched off per surface.
"""

from __future__ import annotations

import numpy as np

from tactful.domain.person import Person
from tactful.domain.recommendation import Reason
from tactful.index.catalog import CatalogIndex
from tactful.index.compiled_profile import PROVENANCES
from tactful.policy.decision import PolicyContext, RuleOutcome
from tactful.signals.profile import Profile


def _tag_mask(ctx: PolicyContext, tags: set[str]) -> np.ndarray:
    """Items carrying at least one of ``tags``."""
    cat = ctx.catalog
    return cat.items_with_tags(cat.tag_columns(tags))


class MutedRule:
    """Items on a muted topic disappear at once (P8)."""

    name = "muted"

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        muted = set(ctx.person.muted_topics)
        deny = _tag_mask(ctx, muted) if muted else None  # None: nothing denied
        cat = ctx.catalog

        def explain(pos: int) -> Reason:
            tags = [t for t in cat.items[pos].tags if t in muted]
            label = ", ".join(cat.tag_labels.get(t, t) for t in tags)
            return Reason(code="muted", message=f"you muted {label}", tag=tags[0] if tags else None)

        return RuleOutcome(self.name, deny, None, explain)


class SensitiveRule:
    """Items in a sensitive category are shown only to people who opted in to it (P8).

    The category comes from the item itself or from any of its tags declared sensitive.
    """

    name = "sensitive"

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        opted = frozenset(ctx.person.consent.sensitive_opt_in)
        cat = ctx.catalog
        deny = cat.sensitive_deny(opted) if cat.derived.categories else None  # None: nothing denied

        def explain(pos: int) -> Reason:
            categories = sorted(cat.sensitive[pos] - opted)
            return Reason(
                code="sensitive",
                message=f"sensitive ({', '.join(categories)}): shown only to people who opt in",
                item_id=cat.item_ids[pos],
            )

        return RuleOutcome(self.name, deny, None, explain)


class ProvenanceRule:
    """Never act on what the person did not volunteer (P4).

    An item the person's signals point at only through provenances they did not consent
    to (for example imported purchase history) is not recommended: showing it would act
    on that data even though it carries no weight in the scores.
    """

    name = "provenance"

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        consent = ctx.person.consent
        allowed = {p.value for p in consent.provenances} if consent.personalization else set()
        cat = ctx.catalog
        arrays = ctx.arrays
        rows = np.flatnonzero(arrays.positive_only_outside(allowed))
        deny = None  # nothing denied
        if rows.size:
            deny = np.zeros(cat.size, dtype=bool)
            deny[arrays.item_pos[rows]] = True

        def sources(pos: int) -> list[str]:
            row = rows[np.flatnonzero(arrays.item_pos[rows] == pos)]
            if row.size == 0:
                return []
            bits = int(arrays.item_positive_bits[row[0]])
            return sorted(p for n, p in enumerate(PROVENANCES) if bits >> n & 1)

        def explain(pos: int) -> Reason:
            provs = sources(pos)
            why = "personalization is off" if not consent.personalization else "you have not allowed"
            return Reason(
                code="not_consented",
                message=f"known to us only from {', '.join(provs)} data and {why}",
                item_id=cat.item_ids[pos],
                provenance=provs,
            )

        return RuleOutcome(self.name, deny, None, explain)


class SurfaceFilterRule:
    """A surface's include/exclude tag filters (no demographic segments: tags only, P10)."""

    name = "surface_filter"

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        self.include = set(include)
        self.exclude = set(exclude)

    def apply(self, ctx: PolicyContext) -> RuleOutcome:
        size = ctx.catalog.size
        if not self.include and not self.exclude:
            return RuleOutcome(self.name, None, None, lambda pos: Reason(code="allowed", message=""))
        deny = np.zeros(size, dtype=bool)
        if self.include:
            deny |= ~_tag_mask(ctx, self.include)
        if self.exclude:
            deny |= _tag_mask(ctx, self.exclude)
        surface = ctx.surface
        exclude = self.exclude
        cat = ctx.catalog

        def explain(pos: int) -> Reason:
            hit = [t for t in cat.items[pos].tags if t in exclude]
            if hit:
                return Reason(code="surface_filter", message=f"{surface} never shows {hit[0]}", tag=hit[0])
            return Reason(
                code="surface_filter",
                message=f"{surface} shows only {', '.join(sorted(self.include))}",
            )

        return RuleOutcome(self.name, deny, None, explain)


def respect_mask(catalog: CatalogIndex, person: Person, now: float) -> np.ndarray:
    """Items a person must never be shown anywhere: muted topics, sensitive without opt-in."""
    ctx = PolicyContext(catalog, Profile(person.id), person, now, "similar")
    mask = np.zeros(catalog.size, dtype=bool)
    for rule in (MutedRule(), SensitiveRule()):
        deny = rule.apply(ctx).deny
        if deny is not None:
            mask |= deny
    return mask
