"""Constrained string types shared by every boundary model."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+\-]{0,127}$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
CATEGORY_PATTERN = r"^[a-z][a-z0-9_\-]{0,31}$"
# A tag's value may hold any character but whitespace (spelled out, so the pattern means the
# same to Python and to JSON Schema's ECMA-262 regexes), ':', '/', '\\', control characters,
# and U+0130 (the one character whose lowercase is two characters long), and the invisible
# characters :func:`check_label` refuses (Unicode Cc and Cf, listed from the BMP). Lone
# surrogates and invisible characters beyond the BMP are refused apart: Rust-based validators
# (pydantic's, schemathesis's) cannot compile surrogates in a class, and ECMA-262 regexes
# without the ``u`` flag cannot name characters beyond U+FFFF.
_TAG_SPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def _bmp_class(categories: tuple[str, ...]) -> str:
    """The BMP characters of those Unicode categories, as ranges of four-digit ``\\u`` escapes for a class."""
    codes = [c for c in range(0x10000) if unicodedata.category(chr(c)) in categories]
    runs: list[tuple[int, int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in runs)


_INVISIBLE = _bmp_class(("Cc", "Cf"))
TAG_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,31}:[^" + _TAG_SPACE + r":/\\" + _INVISIBLE + r"\u0130]{1,96}$"
_TAG_RE = re.compile(TAG_PATTERN)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")

EntityId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""An item, user, event or recommendation id: 1–128 safe characters."""

TypeName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""An event type or surface name: lowercase, digits and underscores."""

Category = Annotated[str, StringConstraints(pattern=CATEGORY_PATTERN)]
"""A sensitive category such as ``health`` or ``finance``."""


def check_text(value: str) -> str:
    """Free text: any character except NUL and unpaired UTF-16 surrogates.

    NUL cannot be stored (PostgreSQL text refuses it) and a lone surrogate (``"\\ud800"``
    in JSON) is not Unicode text at all: it cannot be encoded as UTF-8, to the database or
    back to the client. A valid pair (``"\\ud83d\\ude00"``) arrives as one character and
    is fine. Bidirectional controls and zero-width characters are kept: they are part of
    right-to-left and emoji text, and tactful never interprets free text.
    """
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    found = _SURROGATE_RE.search(value)
    if found is not None:
        raise ValueError(
            f"text must be valid Unicode: unpaired UTF-16 surrogate U+{ord(found.group()):04X} "
            f"at position {found.start()}"
        )
    return value


def check_label(value: str) -> str:
    """A machine label (tag, context field, attribute key, URL): visible characters only.

    On top of :func:`check_text`, refuses control characters (Unicode category Cc) and
    invisible format characters (Cf: bidirectional overrides and isolates, zero-width
    space/joiners, the byte-order mark, soft hyphen…), which would make two labels that
    look the same differ, or reorder how a label is displayed.
    """
    check_text(value)
    for n, char in enumerate(value):
        kind = unicodedata.category(char)
        if kind in ("Cc", "Cf"):
            what = "control" if kind == "Cc" else "invisible formatting"
            raise ValueError(f"label must not contain {what} character U+{ord(char):04X} (position {n})")
    return value


Text = Annotated[str, AfterValidator(check_text)]
"""Free text (titles, labels shown to people, search queries, attribute values)."""

ShortText = Annotated[
    Text,
    StringConstraints(max_length=512),
    WithJsonSchema({"type": "string", "maxLength": 512, "pattern": "^[^\\u0000]*$"}),  # no NUL
]
"""Free text of at most 512 characters (titles, tag labels, promotion names, queries)."""

LABEL_PATTERN = "^[^" + _INVISIBLE + "]*$"
"""What :func:`check_label` allows, as far as a JSON Schema pattern can say (the BMP)."""

Label = Annotated[str, AfterValidator(check_label), Field(json_schema_extra={"pattern": LABEL_PATTERN})]
"""A machine label: give it a length with ``Annotated[Label, StringConstraints(max_length=…)]``."""


def check_tag(value: str) -> str:
    """A tag is ``namespace:value`` (``TAG_PATTERN``, published in the OpenAPI schema) and a
    valid :func:`check_label` (no invisible characters, no lone surrogates); case-insensitive:
    it is returned lowercased, the form it is stored and matched in."""
    if not isinstance(value, str) or not _TAG_RE.match(value):
        raise ValueError(
            "tag must look like 'namespace:value' (no spaces, slashes or control characters; "
            "namespace ≤ 32, value ≤ 96 characters)"
        )
    try:
        check_label(value)
    except ValueError as exc:
        raise ValueError(str(exc).replace("label", "tag", 1)) from None
    return value.lower()


Tag = Annotated[
    str,
    AfterValidator(check_tag),
    WithJsonSchema({"type": "string", "pattern": TAG_PATTERN, "minLength": 3, "maxLength": 129}),
]
"""``namespace:value``; stored lowercase."""


def slug(text: str, limit: int = 96) -> str:
    """Turn free text into a tag value: lowercase, spaces to dashes, unsafe characters dropped
    (controls, invisible formatting characters and lone surrogates, as :func:`check_tag` wants)."""
    lowered = text.strip().lower()
    kept = re.sub(r"[\s/\\:]+", "-", lowered)
    kept = "".join(c for c in kept if unicodedata.category(c) not in ("Cc", "Cf", "Cs")).strip("-")
    return kept[:limit]
