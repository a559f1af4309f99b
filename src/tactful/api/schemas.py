"""Request and response bodies of the HTTP API that are not domain types themselves."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tactful.domain.identifiers import EntityId
from tactful.domain.item import Item, TagMeta
from tactful.domain.recommendation import RecommendedItem

MAX_BATCH = 10_000


class ItemBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Item] = Field(min_length=1, max_length=MAX_BATCH)


class TagBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[TagMeta] = Field(min_length=1, max_length=MAX_BATCH)


class IdBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[EntityId] = Field(min_length=1, max_length=MAX_BATCH)


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


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
