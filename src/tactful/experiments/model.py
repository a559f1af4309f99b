"""What an experiment is: variants (validated ``RunConfig`` overrides), targeting, a staged
rollout, metrics and guardrails; and the state it is in."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from tactful.domain.event import utc_instant
from tactful.domain.identifiers import EntityId, ShortText, TypeName
from tactful.domain.strict import Instant
from tactful.experiments.metrics import MetricName
from tactful.signals.profile import Engagement

BUCKETS = 10_000
"""People are hashed into this many buckets; shares are whole buckets (0.01 %)."""
HOLDOUT_ID = "holdout"
"""The id the global holdout is reported under (no experiment may take it)."""
VariantName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Percent = Annotated[float, Field(gt=0, le=100)]


class VariantSpec(BaseModel):
    """One arm: a share of the experiment's people and the run-config overrides they get."""

    model_config = ConfigDict(extra="forbid")

    name: VariantName
    weight: float = Field(1.0, gt=0, le=1000, description="Relative share of the experiment's people.")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the request RunConfig (models, policies, surfaces); "
        "the control's is usually empty.",
    )
    description: ShortText = ""


class RolloutStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    percent: Percent
    at: Instant | None = Field(None, description="When this step becomes due (else by the cadence).")

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return utc_instant(value, "step times")


class Rollout(BaseModel):
    """Share of the experiment's people exposed, step by step. Step 0 starts with the
    experiment; each later step is due at its ``at`` or ``cadence_hours`` after the
    previous step was taken, and is taken only while the experiment is healthy."""

    model_config = ConfigDict(extra="forbid")

    steps: list[RolloutStep] = Field(
        default_factory=lambda: [RolloutStep(percent=p) for p in (1, 5, 25, 50, 100)],
        min_length=1,
        max_length=20,
    )
    cadence_hours: float | None = Field(24.0, gt=0, le=24 * 365)

    @model_validator(mode="after")
    def _check(self) -> Rollout:
        percents = [s.percent for s in self.steps]
        if any(b <= a for a, b in zip(percents, percents[1:], strict=False)):
            raise ValueError("rollout percents must increase step by step")
        timed = [s.at is not None for s in self.steps[1:]]
        if self.cadence_hours is None and not all(timed):
            raise ValueError("without cadence_hours every step after the first needs an 'at' time")
        ats = [s.at for s in self.steps[1:] if s.at is not None]
        if any(b <= a for a, b in zip(ats, ats[1:], strict=False)):
            raise ValueError("rollout step times must increase")
        return self


class ExperimentSpec(BaseModel):
    """An experiment as created. The first variant is the control."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "exp-explore",
                    "name": "More exploration on home",
                    "variants": [
                        {"name": "control"},
                        {"name": "explore", "config": {"surfaces": {"home": {"exploration_share": 0.25}}}},
                    ],
                    "surfaces": ["home"],
                    "rollout": {
                        "steps": [{"percent": 5}, {"percent": 50}, {"percent": 100}],
                        "cadence_hours": 24,
                    },
                }
            ]
        },
    )

    id: EntityId
    name: ShortText
    description: ShortText = ""
    variants: list[VariantSpec] = Field(min_length=2, max_length=10)
    salt: (
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]*$")] | None
    ) = Field(None, description="Assignment hash salt (default: the id).")
    namespace: EntityId | None = Field(
        None, description="Experiments sharing a namespace are mutually exclusive (default: its own)."
    )
    traffic: Annotated[float, Field(ge=0.01, le=100)] = Field(
        100.0, description="Share of the namespace this experiment claims, in %."
    )
    surfaces: list[TypeName] = Field(
        default_factory=list, max_length=32, description="Targeted surfaces (empty: all)."
    )
    engagement: list[Engagement] = Field(
        default_factory=list, description="Targeted engagement levels, as of the base config (empty: all)."
    )
    rollout: Rollout = Field(default_factory=Rollout)
    metrics: list[MetricName] = Field(
        default_factory=lambda: [MetricName.ctr, MetricName.save_rate], max_length=16
    )
    guardrails: list[MetricName] = Field(
        default_factory=lambda: [
            MetricName.dislike_rate,
            MetricName.unsubscribe_rate,
            MetricName.complaint_rate,
        ],
        max_length=16,
        description="Rolled back to control when one is significantly worse under the sequential test.",
    )
    alpha: float = Field(0.05, gt=0, lt=0.5)
    planned_people: int = Field(
        10_000, ge=10, le=10**9, description="Where the confidence sequence is tightest."
    )
    min_people: int = Field(
        50, ge=1, le=10**7, description="People per variant before a ramp step may be taken."
    )
    srm_min_count: int = Field(
        100, ge=1, le=10**7, description="People in all before the sample-ratio check counts."
    )
    srm_p: float = Field(0.001, gt=0, lt=0.5)
    attribution_window_hours: float | None = Field(None, gt=0, le=24 * 90)
    cuped: bool = Field(False, description="Adjust with each person's activity before exposure.")

    @model_validator(mode="after")
    def _check(self) -> ExperimentSpec:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError("variant names must be distinct")
        if len(set(self.surfaces)) != len(self.surfaces):
            raise ValueError("surfaces must be distinct")
        return self

    @property
    def control(self) -> str:
        return self.variants[0].name

    @property
    def hash_salt(self) -> str:
        return self.salt or self.id

    @property
    def namespace_name(self) -> str:
        return self.namespace or f"own:{self.id}"


class Status(StrEnum):
    draft = "draft"
    running = "running"
    stopped = "stopped"
    rolled_back = "rolled_back"


class Experiment(BaseModel):
    """An experiment with its state. ``slot`` is its range of namespace buckets."""

    model_config = ConfigDict(extra="forbid")

    spec: ExperimentSpec
    status: Status = Status.draft
    step: int = -1
    percent: float = 0.0
    slot: tuple[int, int] = (0, BUCKETS)
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    step_at: datetime | None = None
    stopped_at: datetime | None = None
    reason: str = ""
    version: int = 0

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def assigning(self) -> bool:
        """People are assigned (and exposed) only while running."""
        return self.status is Status.running and self.percent > 0


class RampRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"percent": 25}]})

    percent: Percent


class StopRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "shipped the winner"}]}
    )

    reason: ShortText = ""
