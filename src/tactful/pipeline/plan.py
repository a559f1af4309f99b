"""A list plan: everything the pipeline needs from the policy layer for one request."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tactful.config.policy import DiversityMethod
from tactful.domain.recommendation import Reason
from tactful.index.person_state import PersonState
from tactful.policy.decision import PolicyRule
from tactful.policy.hints import BackoffCounter
from tactful.policy.promotions import PromotionCandidates
from tactful.policy.selection import SelectConfig, Selection, select
from tactful.signals.profile import Engagement


@dataclass
class ListPlan:
    """Everything the pipeline needs from the policy layer for one request."""

    state: PersonState
    surface: str
    weights: dict[str, float]
    extra_rules: list[PolicyRule]
    disabled: frozenset[str]
    select_cfg: SelectConfig | None
    interest_tags: set[str]
    seen: np.ndarray
    promos: PromotionCandidates
    seed: int
    notes: list[Reason]
    withheld: Callable[[], list[Reason]]  # why interests are not used; built only for explain=full
    counter: BackoffCounter | None
    cite_after: float | None = None  # only items liked since may be cited as "because you liked"
    backoff_threshold: int = 40
    backoff_visit_seconds: float = 0.0
    engagement: Engagement | None = None  # the person's real level, when the list runs at another
    selection: Selection | None = field(default=None)
    stated_tags: frozenset[str] = frozenset()

    @property
    def reported_engagement(self) -> Engagement:
        """The level a response reports: the person's own, even while backing off (P5, P7)."""
        return self.state.engagement if self.engagement is None else self.engagement

    def rules(self, base: Sequence[PolicyRule]) -> list[PolicyRule]:
        return [r for r in base if r.name not in self.disabled] + self.extra_rules

    def select(self, final: np.ndarray, n: int) -> Selection:
        cfg = self.select_cfg or SelectConfig(0.0, DiversityMethod.off, 1.0, 0.2)
        vector = self.state.context.tag_vector
        self.selection = select(
            final,
            self.state.context.catalog,
            n,
            cfg,
            self.interest_tags,
            vector,
            self.seen,
            self.promos,
            self.seed,
            self.stated_tags,
        )
        return self.selection

    def list_notes(self, explain_full: bool) -> list[Reason] | None:
        notes = list(self.notes) + (self.withheld() + self.promos.notes if explain_full else [])
        return notes or None
