"""The recommendation pipeline: candidates → scores → blend → policy → select → explain (SPEC §4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tactful.domain.recommendation import Exclusion, Reason, RecommendedItem
from tactful.index.person_state import PersonState
from tactful.pipeline.explainer import closest_liked, reasons_for
from tactful.policy.decision import Action, PolicyContext, PolicyRule, run_policies
from tactful.scoring.blend import Blend, blend
from tactful.scoring.context import Scorer

if TYPE_CHECKING:
    from tactful.pipeline.plan import ListPlan


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


class Pipeline:
    """Composes scorers, blend weights and policy rules; pure given its inputs."""

    def __init__(
        self,
        scorers: Sequence[Scorer],
        rules: Sequence[PolicyRule],
        blend_weights: dict[str, dict[str, float]],
        half_lives: dict[str, float],
    ) -> None:
        self.scorers = list(scorers)
        self.rules = list(rules)
        self.blend_weights = blend_weights
        self.half_lives = half_lives

    def run(
        self,
        state: PersonState,
        surface: str,
        n: int,
        explain_full: bool = False,
        plan: ListPlan | None = None,
    ) -> PipelineResult:
        """Rank for one request; a policy ``plan`` supplies weights, extra rules and the select stage."""
        ctx = state.context
        cat = ctx.catalog
        components = {s.name: s.score(ctx) for s in self.scorers}
        weights = plan.weights if plan is not None else self.blend_weights[state.engagement.value]
        mix = blend(components, weights, cat.size)
        rules = plan.rules(self.rules) if plan is not None else self.rules
        policy_ctx = PolicyContext(cat, state.profile, state.person, ctx.now, surface, state.compiled)
        policy = run_policies(rules, policy_ctx)
        base = mix.total - (mix.total.min() if cat.size else 0.0) + 1e-6
        final = np.where(policy.allowed, base * policy.multiplier, -np.inf)
        slot_reasons: dict[int, list[Reason]] = {}
        if plan is None:
            chosen = top_k(final, n)
        else:
            selection = plan.select(final, n)
            chosen = np.array(selection.positions, dtype=np.int64)
            slot_reasons = selection.reasons
        liked = closest_liked(state, chosen) if "collaborative" in mix.parts else {}
        items = [
            RecommendedItem(
                item_id=cat.item_ids[pos],
                title=cat.items[pos].title,
                score=round(float(final[pos]), 6),
                tags=list(cat.items[pos].tags),
                reasons=slot_reasons.get(int(pos), [])
                + reasons_for(
                    int(pos), state, mix, policy.decisions(int(pos)), self.half_lives, liked.get(int(pos))
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
