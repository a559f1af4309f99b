"""Constrained string types shared by every boundary model."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+\-]{0,127}$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
CATEGORY_PATTERN = r"^[a-z][a-z0-9_\-]{0,31}$"
_TAG_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}:[^\s:/\\\x00-\x1f\x7f]{1,96}$")

EntityId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""An item, user, event or recommendation id: 1–128 safe characters."""

TypeName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""An event type or surface name: lowercase, digits and underscores."""

Category = Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]
"""A sensitive category such as ``health`` or ``finance``."""


def check_text(value: str) -> str:
    """Free text may hold any character except NUL (PostgreSQL text cannot store it)."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


ShortText = Annotated[str, StringConstraints(max_length=512), AfterValidator(check_text)]


def check_tag(value: str) -> str:
    """A tag is ``namespace:value``, lowercase, no spaces, slashes or control characters."""
    if not _TAG_RE.match(value) or value != value.lower():
        raise ValueError(
            "tag must look like 'namespace:value' (lowercase, no spaces, slashes or control "
            "characters; namespace ≤ 32, value ≤ 96 characters)"
        )
    return value


Tag = Annotated[str, AfterValidator(check_tag)]


def slug(text: str, limit: int = 96) -> str:
    """Turn free text into a tag value: lowercase, spaces to dashes, unsafe characters dropped."""
    lowered = text.strip().lower()
    kept = re.sub(r"[\s/\\:]+", "-", lowered)
    kept = re.sub(r"[\x00-\x1f\x7f]", "", kept).strip("-")
    return kept[:limit]
