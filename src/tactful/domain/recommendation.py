"""What the engine returns: items with machine-readable reasons (P12)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Reason(BaseModel):
    """Why an item is shown (or excluded): a code plus the evidence behind it."""

    code: str
    message: str
    tag: str | None = None
    item_id: str | None = None
    evidence: int | None = None
    provenance: list[str] | None = None
    weight: float | None = None


class RecommendedItem(BaseModel):
    item_id: str
    title: str
    score: float
    tags: list[str] = Field(default_factory=list)
    reasons: list[Reason]


class Exclusion(BaseModel):
    """A candidate removed or demoted by policy, with the rule and its reason."""

    item_id: str
    rule: str
    action: str
    multiplier: float | None = None
    reason: Reason


class Recommendations(BaseModel):
    recommendation_id: str
    user_id: str
    surface: str
    engagement: str
    generated_at: datetime
    items: list[RecommendedItem]
    excluded: list[Exclusion] | None = None
    notes: list[Reason] | None = Field(
        None, description="List-level policy notes: engagement ramp, back-off, consent, withheld interests."
    )
    model_version: str | None = None


class InterestView(BaseModel):
    """One interest as the person can see it: score, evidence, provenance."""

    tag: str
    score: float
    evidence: int
    established: bool
    stated: bool
    last_positive: datetime | None
    provenance: dict[str, float]
    sensitive_category: str | None = None
    status: str | None = Field(
        None,
        description="Whether the interest drives recommendations now ('used') or why not "
        "(not_established, retarget_window, stale, not_consented, muted).",
    )


class ProfileView(BaseModel):
    user_id: str
    engagement: str
    positive_signals: int
    active_days: int
    interests: list[InterestView]
    disliked_items: list[str]
    consumed_items: list[str]
    stated_interests: list[str]
    muted_topics: list[str]
    removed_interests: list[str] = Field(default_factory=list)
    consent: dict[str, Any]
