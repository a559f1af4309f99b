"""Events: what a person did or told us, with provenance and attribution."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from tactful.domain.identifiers import EntityId, Label, ShortText, TypeName
from tactful.domain.strict import JSON_NUMBER, Instant


class Provenance(StrEnum):
    """Where a signal came from (P4)."""

    explicit = "explicit"
    observed = "observed"
    inferred = "inferred"
    imported = "imported"


class EventContext(BaseModel):
    """Where and how the event happened."""

    model_config = ConfigDict(extra="forbid")

    device: Annotated[Label, StringConstraints(max_length=64)] | None = None
    query: ShortText | None = None
    category: Annotated[Label, StringConstraints(max_length=128)] | None = None
    session: Annotated[Label, StringConstraints(max_length=128)] | None = None


class Event(BaseModel):
    """One thing a person did. ``id`` makes ingest idempotent when the client gives it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"id": "ev-1", "user_id": "u1", "item_id": "a1", "type": "like", "surface": "home"},
                {"user_id": "u1", "item_id": "a2", "type": "play", "value": 212.0},
            ]
        },
    )

    id: EntityId | None = None
    user_id: EntityId
    item_id: EntityId | None = None
    type: TypeName
    value: Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False), JSON_NUMBER] | None = None
    timestamp: Instant | None = None
    provenance: Provenance | None = None
    surface: TypeName | None = None
    recommendation_id: EntityId | None = None
    context: EventContext | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return utc_instant(value, "timestamp")


def utc_instant(value: datetime | None, what: str) -> datetime | None:
    """A time in UTC (a naive one is taken as UTC), refused outside 1970–2200."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not (1970 <= value.year <= 2200):
        raise ValueError(f"{what} must be between 1970 and 2200")
    return value.astimezone(UTC)


class EventBatch(BaseModel):
    """A batch of events, accepted or rejected as a whole."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {"user_id": "u1", "item_id": "a1", "type": "like"},
                        {"user_id": "u1", "item_id": "a2", "type": "rate", "value": 4.5},
                    ]
                }
            ]
        },
    )

    events: list[Event] = Field(min_length=1)


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
