"""Settings of experiments, staged rollouts and the global holdout."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class HoldoutMode(StrEnum):
    """When the global holdout is kept."""

    auto = "auto"  # while any experiment runs: experiments and personalization are measured against it
    on = "on"  # always
    off = "off"  # never


class ExperimentSettings(BaseModel):
    """Defaults for experiments; each experiment may set its own window, alpha and sizes."""

    model_config = ConfigDict(extra="forbid")

    holdout: HoldoutMode = Field(
        HoldoutMode.auto,
        description="The global holdout: a `holdout_percent` share of people gets non-personalized "
        "content everywhere and is in no experiment, so the lift of personalization is measured "
        "(`tactful experiments report holdout`). auto: kept while any experiment runs (nobody is "
        "held out in an installation that runs no experiments); on: always (true); off: never (false).",
    )
    @field_validator("holdout", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return HoldoutMode.on if value else HoldoutMode.off
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return HoldoutMode.on if value.lower() == "true" else HoldoutMode.off
        return value

    holdout_percent: float = Field(
        5.0, ge=0, le=50, description="Share of people in the global holdout, in %."
    )
    holdout_salt: str = Field(
        "holdout",
        min_length=1,
        max_length=64,
        description="Hash salt of the holdout (changing it reshuffles who is held out).",
    )
    attribution_window_hours: float = Field(
        24.0,
        gt=0,
        le=24 * 90,
        description="Default window after a served list in which its events count for it.",
    )
    refresh_seconds: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="How often a worker rereads running experiments (a rollback on another "
        "worker shows within this).",
    )
    tick_minutes: float = Field(
        15.0,
        ge=0,
        le=24 * 60,
        description="`tactful serve` evaluates guardrails and due ramp steps this often "
        "(0: only on request).",
    )
    exposure_flush_seconds: float = Field(
        0.25,
        gt=0,
        le=60,
        description="Exposures and experiment-served lists are written in batches this often.",
    )
