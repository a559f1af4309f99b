"""The recommendation pipeline: candidates → scores → blend → policy → select → explain (SPEC §4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tactful.config.run import RunConfig
from tactful.domain.recommendation import Exclusion, Reason, RecommendedItem
from tactful.index.person_state import PersonState
from tactful.pipeline.explainer import closest_liked, reasons_for
from tactful.pipeline.plan import ListPlan
from tactful.policy.decision import Action, PolicyContext, PolicyRule, run_policies
from tactful.policy.exclusions import (
    AvailabilityRule,
    ConsumedRule,
    DislikedRule,
    PassedOverRule,
    SimilarToDislikedRule,
)
from tactful.scoring.blend import Blend, blend
from tactful.scoring.context import Scorer


@dataclass(frozen=True)
class PipelineResult:
    items: list[RecommendedItem]
    excluded: list[Exclusion] | None
    mix: Blend


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest finite scores, best first."""
    finite = np.flatnonzero(np.isfinite(scores))
    if finite.size == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, finite.size)
    vals = scores[finite]
    part = np.argpartition(-vals, k - 1)[:k]
    order = part[np.lexsort((finite[part], -vals[part]))]
    return finite[order]


def base_rules(config: RunConfig, extra: Sequence[PolicyRule] = ()) -> list[PolicyRule]:
    """The foundation rules every list runs (a plan may switch some off per surface)."""
    return [
        AvailabilityRule(),
        DislikedRule(),
        ConsumedRule(),
        SimilarToDislikedRule(config.similar_tag_penalty),
        PassedOverRule(config.negative_item_rate),
        *extra,
    ]


def _joined(slot: list[Reason], scored: list[Reason]) -> list[Reason]:
    """The slot's own reasons, then the scored ones that do not repeat them (same code and tag)."""
    if not slot:
        return scored
    said = {(r.code, r.tag) for r in slot}
    return slot + [r for r in scored if (r.code, r.tag) not in said]


class Pipeline:
    """Composes scorers, blend weights and policy rules; pure given its inputs.

    The rules of a request come from its :class:`RunConfig` (the base config's are built
    once); scorers are fixed at construction and name the blend's keys.
    """

    def __init__(
        self,
        scorers: Sequence[Scorer],
        base: RunConfig,
        half_lives: dict[str, float],
        extra_rules: Sequence[PolicyRule] = (),
    ) -> None:
        self.scorers = list(scorers)
        self.extra_rules = list(extra_rules)
        self.base = base
        self.rules = base_rules(base, self.extra_rules)
        self.half_lives = half_lives

    @property
    def scorer_names(self) -> list[str]:
        return [s.name for s in self.scorers]

    def rules_for(self, config: RunConfig) -> list[PolicyRule]:
        return self.rules if config is self.base else base_rules(config, self.extra_rules)

    def run(
        self,
        state: PersonState,
        surface: str,
        n: int,
        plan: ListPlan,
        config: RunConfig,
        explain_full: bool = False,
        only: np.ndarray | None = None,
    ) -> PipelineResult:
        """Rank for one request: the ``plan`` supplies weights, extra rules and the select stage.

        ``only`` (catalog positions) restricts the list to a caller's candidates (re-rank):
        every other item is left out before policy, so exclusions speak only of candidates.
        """
        ctx = state.context
        cat = ctx.catalog
        components = {s.name: s.score(ctx) for s in self.scorers}
        mix = blend(components, plan.weights, cat.size)
        rules = plan.rules(self.rules_for(config))
        policy_ctx = PolicyContext(cat, state.profile, state.person, ctx.now, surface, state.compiled, ctx)
        policy = run_policies(rules, policy_ctx)
        base = mix.total - (mix.total.min() if cat.size else 0.0) + 1e-6
        if only is not None:
            keep = np.zeros(cat.size, dtype=bool)
            keep[only] = True
            base = np.where(keep, base, -np.inf)
        final = np.where(policy.allowed, base * policy.multiplier, -np.inf)
        selection = plan.select(final, n)
        chosen = np.array(selection.positions, dtype=np.int64)
        slot_reasons: dict[int, list[Reason]] = selection.reasons
        liked = closest_liked(state, chosen, plan.cite_after) if "collaborative" in mix.parts else {}
        items = [
            RecommendedItem(
                item_id=cat.item_ids[pos],
                title=cat.items[pos].title,
                score=round(float(final[pos]), 6),
                tags=list(cat.items[pos].tags),
                reasons=_joined(
                    slot_reasons.get(int(pos), []),
                    reasons_for(
                        int(pos), state, mix, policy.decisions(int(pos)), self.half_lives, liked.get(int(pos))
                    ),
                ),
            )
            for pos in chosen
        ]
        excluded = None
        if explain_full:
            excluded = []
            for pos in top_k(np.where(np.isfinite(base), base, -np.inf), 5 * n):
                for d in policy.decisions(int(pos)):
                    if d.action is Action.deny or (d.action is Action.multiply and pos not in chosen):
                        excluded.append(
                            Exclusion(
                                item_id=cat.item_ids[pos],
                                rule=d.rule,
                                action=d.action.value,
                                multiplier=d.multiplier if d.action is Action.multiply else None,
                                reason=d.reason,
                            )
                        )
        return PipelineResult(items=items, excluded=excluded, mix=mix)
