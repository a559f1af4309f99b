"""Settings of the policy layer (P4–P12) and of each surface, nested under ``Settings``.

Every knob has a description and the SPEC default. ``TACTFUL_POLICY__ENABLED=false`` turns
the whole respect layer off (the plain-recommender baseline ``tactful simulate`` compares
against); per-surface knobs live under ``surfaces.<name>``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tactful.domain.identifiers import Tag

PROTECTED_RULES = frozenset({"disliked", "sensitive", "muted", "provenance"})
"""Rules a surface may not switch off: they guard promises made to the person."""

SWITCHABLE_RULES = frozenset(
    {"consumed", "similar_to_disliked", "skipped", "impression_discount", "surface_filter", "availability"}
)


class DiversityMethod(StrEnum):
    mmr = "mmr"
    calibration = "calibration"
    off = "off"


class HintSettings(BaseModel):
    """Taking a hint (P7): impressions, retargeting window, back-off."""

    model_config = ConfigDict(extra="forbid")

    impressions_before_cooldown: int = Field(
        3, ge=1, le=1000, description="An item shown this many times without engagement is cooled down."
    )
    cooldown_multiplier: float = Field(
        0.25, ge=0, le=1, description="Score multiplier for a cooled-down item."
    )
    cooldown_days: float = Field(
        14.0,
        gt=0,
        le=3650,
        description="How long a cooled-down item stays demoted after its last impression.",
    )
    retarget_window_days: float = Field(
        30.0,
        gt=0,
        le=3650,
        description="An inferred interest stops driving boosts this many days after its last "
        "positive signal.",
    )
    backoff_after_ignored: int = Field(
        40,
        ge=1,
        le=100_000,
        description="Personalized slots served without any positive signal before the person is "
        "reverted to general content (until they show interest again).",
    )
    visit_minutes: float = Field(
        30.0,
        ge=0,
        le=1440,
        description="Lists served within this many minutes of a visit's first counted list are one "
        "visit: back-off counts the most personalized slots any of them held, once, so a reload "
        "counts nothing (0 counts every served list).",
    )


class InterestSettings(BaseModel):
    """Which learned interests may drive anything (P6, P9, P11)."""

    model_config = ConfigDict(extra="forbid")

    stale_below: float = Field(
        0.2,
        ge=0,
        le=100,
        description="An established interest whose decayed score fell below this stops driving "
        "anything (P9).",
    )
    recency_half_life_days: float = Field(
        14.0,
        gt=0,
        le=3650,
        description="Recent behaviour outweighs old (P9): an interest's weight halves for every this "
        "many days since its last positive signal, on top of its score's own decay.",
    )
    stated_weight: float = Field(
        4.0, ge=0, le=100, description="Interest score a stated interest contributes; it overrides inference."
    )
    stale_item_weight: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Weight kept by an item last liked longer ago than the retargeting window (P7, "
        "P9): it still informs similarity a little, is never the reason shown, and the collaborative "
        "part of a list shrinks when such items are most of what it rests on.",
    )


class PromotionSettings(BaseModel):
    """Defaults for promotions (business-chosen items) and how they are placed."""

    model_config = ConfigDict(extra="forbid")

    default_cap: int = Field(3, ge=1, le=1000, description="Promoted placements per person per window.")
    default_window_days: float = Field(
        7.0, gt=0, le=365, description="Window the per-person cap counts over."
    )


class PolicySettings(BaseModel):
    """The respect layer: every rule is on by default with the SPEC defaults."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        True,
        description="Apply the policy layer. Off gives a plain recommender (no consent, evidence, "
        "sensitivity, mute, hint, exploration or promotion limits): only for baselines.",
    )
    hints: HintSettings = Field(default_factory=HintSettings)
    interests: InterestSettings = Field(default_factory=InterestSettings)
    promotions: PromotionSettings = Field(default_factory=PromotionSettings)
    smooth_ramp: bool = Field(
        True,
        description="Engagement ramp (P5): while warming, blend weights move linearly from the "
        "'warming' to the 'engaged' mix as positive signals accumulate (new people get general content).",
    )


class SurfaceSettings(BaseModel):
    """One placement's list shape: size, exploration, diversity, promotions, filters."""

    model_config = ConfigDict(extra="forbid")

    n: int = Field(10, ge=1, le=200, description="Items returned when the request gives no n.")
    exploration_share: float = Field(
        0.10, ge=0, le=0.5, description="Share of slots exploring outside established interests (P10)."
    )
    diversity: DiversityMethod = Field(
        DiversityMethod.mmr, description="Re-ranking for variety: mmr, calibration over tags, or off."
    )
    diversity_lambda: float = Field(
        0.75,
        ge=0,
        le=1,
        description="Relevance weight: MMR trades relevance (λ) against redundancy (1-λ); calibration "
        "trades relevance (λ) against divergence from the person's tag mix (1-λ).",
    )
    percent_promoted: float = Field(
        0.2, ge=0, le=1, description="At most this share of a list may be promoted placements."
    )
    stated_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Share of slots (rounded half up) held by items with an interest the person "
        "stated, while they have one (P11): a statement shapes the very next list.",
    )
    replay: bool = Field(
        False,
        description="Items the person already liked, saved or consumed may come back here (a "
        "radio-style surface). Off (a store feed) keeps them out of the list.",
    )
    include_tags: list[Tag] = Field(
        default_factory=list, max_length=64, description="If set, only items with one of these tags."
    )
    exclude_tags: list[Tag] = Field(
        default_factory=list, max_length=64, description="Items with any of these tags are never shown here."
    )
    disabled_rules: list[str] = Field(
        default_factory=list,
        description="Rules switched off on this surface (not disliked, sensitive, muted or provenance).",
    )

    @field_validator("disabled_rules")
    @classmethod
    def _switchable(cls, value: list[str]) -> list[str]:
        for name in value:
            if name in PROTECTED_RULES:
                raise ValueError(f"rule {name!r} protects the person and cannot be disabled per surface")
            if name not in SWITCHABLE_RULES:
                raise ValueError(f"unknown rule {name!r}; switchable: {', '.join(sorted(SWITCHABLE_RULES))}")
        return value


def default_surfaces() -> dict[str, SurfaceSettings]:
    """Built-in placements; any other surface name gets ``SurfaceSettings()``."""
    return {
        "home": SurfaceSettings(),
        "item_page": SurfaceSettings(n=8, diversity_lambda=0.85),
        "email_digest": SurfaceSettings(n=6, percent_promoted=0.0, disabled_rules=["impression_discount"]),
        "push": SurfaceSettings(
            n=1, exploration_share=0.0, diversity=DiversityMethod.off, percent_promoted=0.0
        ),
    }
