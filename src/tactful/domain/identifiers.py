"""Constrained string types shared by every boundary model."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+\-]{0,127}$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
CATEGORY_PATTERN = r"^[a-z][a-z0-9_\-]{0,31}$"
# A tag's value may hold any character but whitespace (spelled out, so the pattern means the
# same to Python and to JSON Schema's ECMA-262 regexes), ':', '/', '\\', control characters,
# and U+0130 (the one character whose lowercase is two characters long). Lone surrogates are
# refused apart: Rust-based validators (pydantic's, schemathesis's) cannot compile them in a class.
_TAG_SPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TAG_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,31}:[^" + _TAG_SPACE + r":/\\\u0000-\u001f\u007f\u0130]{1,96}$"
_TAG_RE = re.compile(TAG_PATTERN)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

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


ShortText = Annotated[
    str,
    StringConstraints(max_length=512),
    AfterValidator(check_text),
    WithJsonSchema({"type": "string", "maxLength": 512, "pattern": "^[^\\u0000]*$"}),  # no NUL
]


def check_tag(value: str) -> str:
    """A tag is ``namespace:value`` (``TAG_PATTERN``, published in the OpenAPI schema), case-
    insensitive: it is returned lowercased, the form it is stored and matched in."""
    if not isinstance(value, str) or not _TAG_RE.match(value) or _SURROGATE_RE.search(value):
        raise ValueError(
            "tag must look like 'namespace:value' (no spaces, slashes or control characters; "
            "namespace ≤ 32, value ≤ 96 characters)"
        )
    return value.lower()


Tag = Annotated[
    str,
    AfterValidator(check_tag),
    WithJsonSchema({"type": "string", "pattern": TAG_PATTERN, "minLength": 3, "maxLength": 129}),
]
"""``namespace:value``; stored lowercase."""


def slug(text: str, limit: int = 96) -> str:
    """Turn free text into a tag value: lowercase, spaces to dashes, unsafe characters dropped."""
    lowered = text.strip().lower()
    kept = re.sub(r"[\s/\\:]+", "-", lowered)
    kept = re.sub(r"[\x00-\x1f\x7f]", "", kept).strip("-")
    return kept[:limit]
