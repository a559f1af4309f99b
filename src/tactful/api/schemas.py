"""Request and response bodies of the HTTP API that are not domain types themselves."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tactful.domain.identifiers import NAME_PATTERN, EntityId, TypeName
from tactful.domain.item import Item, TagMeta
from tactful.domain.recommendation import RecommendedItem
from tactful.services.recommend import MAX_RERANK

MAX_BATCH = 10_000


class ItemBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"id": "a1", "title": "Kind of Blue", "tags": ["genre:jazz", "creator:miles-davis"]},
                        {"id": "a2", "title": "Blue Train", "tags": ["genre:jazz", "creator:john-coltrane"]},
                    ]
                }
            ]
        },
    )

    items: list[Item] = Field(min_length=1, max_length=MAX_BATCH)


class TagBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "tags": [
                        {"tag": "genre:jazz", "label": "Jazz"},
                        {"tag": "topic:pregnancy", "label": "Pregnancy", "sensitive_category": "health"},
                    ]
                }
            ]
        },
    )

    tags: list[TagMeta] = Field(min_length=1, max_length=MAX_BATCH)


class IdBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": ["a1", "a2"]}]})

    ids: list[EntityId] = Field(min_length=1, max_length=MAX_BATCH)


class RerankRequest(BaseModel):
    """The caller's candidates (from their search or category page) to order for the person."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"items": ["a1", "a7", "b3"], "surface": "search", "explain": "full"}]
        },
    )

    items: list[EntityId] = Field(
        min_length=1, max_length=MAX_RERANK, description="Candidate item ids; unknown ids are refused."
    )
    surface: str = Field("home", pattern=NAME_PATTERN, description="The placement the list is for.")
    explain: Literal["full"] | None = Field(
        None, description="'full' also lists the candidates the policy left out, with reasons."
    )


class Count(BaseModel):
    count: int


class ItemList(BaseModel):
    items: list[RecommendedItem]


class Health(BaseModel):
    status: str
    version: str
    schema_version: str | None
    items: int
    catalog_version: int


class Liveness(BaseModel):
    status: str
    stopping: bool = False


class ReadinessCheck(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: str = Field(description="'ready', or 'not_ready' with the failing checks.")
    checks: dict[str, ReadinessCheck]


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class UndoRequest(BaseModel):
    """Which thumbs-down to take back: the item, and optionally only some hard-negative types."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"item_id": "a1"}, {"item_id": "a1", "types": ["dislike"]}]},
    )

    item_id: EntityId
    types: list[TypeName] | None = Field(
        None, max_length=8, description="Hard-negative event types to take back (default: all of them)."
    )


class UndoResult(BaseModel):
    user_id: str
    item_id: str
    removed: int = Field(description="Events taken back (0: there was nothing to undo; nothing changed).")
    replayed: int = Field(description="The person's other events on the item, folded in again.")
    types: list[str]
