"""People being personalized, and what they consented to."""

from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from tactful.domain.event import Provenance
from tactful.domain.identifiers import Category, EntityId, Tag
from tactful.domain.strict import Flag

_ZONES = available_timezones()
_ZONE_NAMES: list[JsonValue] = [*sorted(_ZONES)]  # published as the schema's enum


class Consent(BaseModel):
    """Which provenances may drive personalization (P4) and which sensitive categories (P8)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "personalization": True,
                    "provenances": ["explicit", "observed"],
                    "sensitive_opt_in": ["health"],
                }
            ]
        },
    )

    personalization: Flag = True
    provenances: list[Provenance] = Field(
        default_factory=lambda: [Provenance.explicit, Provenance.observed], max_length=4
    )
    sensitive_opt_in: list[Category] = Field(default_factory=list, max_length=32)


class Person(BaseModel):
    """A person as the engine knows them: time zone, consent, stated interests and mutes."""

    model_config = ConfigDict(extra="forbid")

    id: EntityId
    timezone: str = Field("UTC", json_schema_extra={"enum": _ZONE_NAMES}, description="An IANA time zone.")
    consent: Consent = Field(default_factory=Consent)
    stated_interests: list[Tag] = Field(default_factory=list, max_length=128)
    muted_topics: list[Tag] = Field(default_factory=list, max_length=128)
    blocked_interests: list[Tag] = Field(
        default_factory=list,
        max_length=256,
        description="Interests the person removed: deleted and not re-learned until stated again (P11).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _ZONES:
            raise ValueError(f"unknown time zone {value!r}")
        return value

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
