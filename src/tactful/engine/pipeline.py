"""The recommendation pipeline: candidates → scores → blend → policy → select → explain (SPEC §4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tactful.domain.recommendation import Exclusion, RecommendedItem
from tactful.engine.explainer import reasons_for
from tactful.engine.person_state import PersonState
from tactful.policy.decision import Action, PolicyContext, PolicyRule, run_policies
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

    def run(self, state: PersonState, surface: str, n: int, explain_full: bool = False) -> PipelineResult:
        ctx = state.context
        cat = ctx.catalog
        components = {s.name: s.score(ctx) for s in self.scorers}
        mix = blend(components, self.blend_weights[state.engagement.value], cat.size)
        policy = run_policies(self.rules, PolicyContext(cat, state.profile, state.person, ctx.now, surface))
        base = mix.total - (mix.total.min() if cat.size else 0.0) + 1e-6
        final = np.where(policy.allowed, base * policy.multiplier, -np.inf)
        chosen = top_k(final, n)
        items = [
            RecommendedItem(
                item_id=cat.item_ids[pos],
                title=cat.items[pos].title,
                score=round(float(final[pos]), 6),
                tags=list(cat.items[pos].tags),
                reasons=reasons_for(int(pos), state, mix, policy.decisions(int(pos)), self.half_lives),
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
