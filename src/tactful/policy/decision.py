"""Policy decisions: allow, deny or a score multiplier, always with a reason (SPEC §4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Protocol

import numpy as np

from tactful.domain.person import Person
from tactful.domain.recommendation import Reason
from tactful.index.catalog import CatalogIndex
from tactful.index.compiled_profile import CompiledProfile
from tactful.index.context import ScoringContext
from tactful.signals.profile import Profile


class Action(StrEnum):
    allow = "allow"
    deny = "deny"
    multiply = "multiply"


@dataclass(frozen=True)
class Decision:
    """What one rule decided for one item, and why."""

    rule: str
    action: Action
    multiplier: float
    reason: Reason


@dataclass(frozen=True)
class PolicyContext:
    """Everything a rule may look at: plain objects, no I/O.

    ``compiled`` is the profile as arrays over this catalog (the engine passes the one it
    caches with the profile); without it, :attr:`arrays` builds it once per context.
    """

    catalog: CatalogIndex
    profile: Profile
    person: Person
    now: float
    surface: str
    compiled: CompiledProfile | None = None
    scoring: ScoringContext | None = None
    """The request's scoring context (consented, decayed item weights), when there is one."""

    @cached_property
    def arrays(self) -> CompiledProfile:
        compiled = self.compiled
        if compiled is None or compiled.catalog_version != self.catalog.version:
            compiled = CompiledProfile.build(self.profile, self.catalog)
        return compiled


@dataclass
class RuleOutcome:
    """A rule's verdict over the whole catalog; reasons are built only when asked for."""

    rule: str
    deny: np.ndarray | None
    multiplier: np.ndarray | None
    explain: Callable[[int], Reason]

    def acts_on(self, pos: int) -> bool:
        """Whether this rule denied or re-weighted item ``pos``."""
        if self.deny is not None and self.deny[pos]:
            return True
        return self.multiplier is not None and bool(self.multiplier[pos] != 1.0)

    def decision(self, pos: int) -> Decision:
        if self.deny is not None and self.deny[pos]:
            return Decision(self.rule, Action.deny, 0.0, self.explain(pos))
        if self.multiplier is not None and self.multiplier[pos] != 1.0:
            m = float(self.multiplier[pos])
            return Decision(self.rule, Action.multiply, m, self.explain(pos))
        return Decision(self.rule, Action.allow, 1.0, Reason(code="allowed", message="no objection"))

    def touched(self) -> np.ndarray:
        """Positions this rule denied or re-weighted."""
        mask = np.zeros(0, dtype=bool)
        if self.deny is not None:
            mask = self.deny.copy()
        if self.multiplier is not None:
            changed = self.multiplier != 1.0
            mask = changed if mask.size == 0 else (mask | changed)
        return np.flatnonzero(mask)


class PolicyRule(Protocol):
    """A policy component: pure function of the context."""

    name: str

    def apply(self, ctx: PolicyContext) -> RuleOutcome: ...


@dataclass(frozen=True)
class PolicyResult:
    """The combined verdict of all rules."""

    allowed: np.ndarray
    multiplier: np.ndarray
    outcomes: list[RuleOutcome]

    def decisions(self, pos: int) -> list[Decision]:
        """The rules that denied or re-weighted item ``pos`` (reasons built only for those)."""
        return [o.decision(pos) for o in self.outcomes if o.acts_on(pos)]


def run_policies(rules: list[PolicyRule], ctx: PolicyContext) -> PolicyResult:
    size = ctx.catalog.size
    allowed = np.ones(size, dtype=bool)
    multiplier = np.ones(size)
    outcomes = []
    for rule in rules:
        outcome = rule.apply(ctx)
        if outcome.deny is not None:
            allowed &= ~outcome.deny
        if outcome.multiplier is not None:
            multiplier *= outcome.multiplier
        outcomes.append(outcome)
    return PolicyResult(allowed=allowed, multiplier=multiplier, outcomes=outcomes)
