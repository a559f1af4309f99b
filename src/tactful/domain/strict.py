"""Scalar types that take a value only in the JSON type the schema publishes.

Pydantic's lax mode would read ``0`` as ``false``, ``"1.5"`` as a number and ``0`` as the
epoch; a generated client validating against the published schema would refuse all three,
so the boundary refuses them too. CSV files carry every value as text: their importer
validates with ``context={"text_values": True}``, which lets numeric and date fields read
text (and only that).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, StrictBool, ValidationInfo

TEXT_VALUES = "text_values"


def _text_allowed(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and bool(info.context.get(TEXT_VALUES))


def _number(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, bool) or (isinstance(value, str) and not _text_allowed(info)):
        raise ValueError("must be a JSON number")
    return value


def _instant(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, bool | int | float):
        raise ValueError("must be an ISO 8601 date-time string, e.g. 2024-05-01T12:00:00Z")
    if isinstance(value, str) and not _text_allowed(info):
        text = value.strip()
        if not text or "-" not in text[1:]:  # "0", "1700000000", "1.5e9": not a date-time
            raise ValueError("must be an ISO 8601 date-time string, e.g. 2024-05-01T12:00:00Z")
    return value


Flag = StrictBool
"""``true`` or ``false``: never ``0``, ``1`` or ``"yes"``."""

JSON_NUMBER = BeforeValidator(_number)
"""Marks a number field as a JSON number only (never a string or a boolean). Put it after
the field's constraints, ``Annotated[float, Field(ge=0), JSON_NUMBER]``, or pydantic leaves
the constraints out of the JSON schema."""

Number = Annotated[float, JSON_NUMBER]
"""A JSON number (an integer is one too) without bounds."""

Integer = Annotated[int, JSON_NUMBER]
"""A JSON integer without bounds."""

Instant = Annotated[datetime, BeforeValidator(_instant)]
"""An ISO 8601 date-time string (or a ``datetime`` from Python); never a number."""
