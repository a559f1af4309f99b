"""Catalog items and tag metadata."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tactful.domain.identifiers import Category, EntityId, Label, ShortText, Tag, check_text
from tactful.domain.strict import JSON_NUMBER, Instant

MAX_ATTRIBUTE_TEXT = 2048


def _attribute_value(value: str | float | int | bool | None) -> str | float | int | bool | None:
    """A text value is free text (:func:`check_text`) of at most 2,048 characters."""
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT:
            raise ValueError(f"text must have at most {MAX_ATTRIBUTE_TEXT} characters")
        check_text(value)
    return value


AttributeValue = Annotated[str | float | int | bool | None, AfterValidator(_attribute_value)]


class ItemAttributes(BaseModel):
    """Optional item attributes; ``extra`` holds small operator-defined values."""

    model_config = ConfigDict(extra="forbid")

    price: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False), JSON_NUMBER] | None = None
    url: Annotated[Label, StringConstraints(max_length=2048)] | None = None
    image: Annotated[Label, StringConstraints(max_length=2048)] | None = None
    available_from: Instant | None = None
    expires_at: Instant | None = None
    extra: dict[Annotated[Label, StringConstraints(max_length=64)], AttributeValue] = Field(
        default_factory=dict,
        max_length=32,
        json_schema_extra={"additionalProperties": False},  # keys: the label pattern only
    )


class Item(BaseModel):
    """A thing that can be recommended."""

    model_config = ConfigDict(extra="forbid")

    id: EntityId
    title: ShortText = ""
    tags: list[Tag] = Field(default_factory=list, max_length=64)
    attributes: ItemAttributes = Field(default_factory=ItemAttributes)
    sensitive: list[Category] = Field(default_factory=list, max_length=16)
    created_at: Instant | None = None


class TagMeta(BaseModel):
    """Metadata for a tag: a label and, when sensitive, its category (P8)."""

    model_config = ConfigDict(extra="forbid")

    tag: Tag
    label: ShortText = ""
    sensitive_category: Category | None = None
