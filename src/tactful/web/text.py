"""Words for people: tag labels, reasons and evidence in plain language."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from tactful.domain.recommendation import InterestView, Reason

KINDS = {"genre": "genre", "mood": "mood", "era": "era", "creator": "artist", "topic": "topic"}
_TRAILING_NUMBER = re.compile(r"-\d+$")
_TAG = re.compile(r"\b([a-z][a-z0-9_]*):([a-z0-9][a-z0-9_\-.]*)")


class Labels:
    """Human names for tags: the declared label, else the value made readable."""

    def __init__(self, declared: Mapping[str, str]) -> None:
        self.declared = {tag: label for tag, label in declared.items() if label}

    def __call__(self, tag: str) -> str:
        declared = self.declared.get(tag)
        if declared:
            return declared
        kind, _, value = tag.partition(":")
        if not value:
            return tag
        if kind == "creator":
            value = _TRAILING_NUMBER.sub("", value)
        words = value.replace("_", " ").replace("-", " ").strip()
        return words.title() if kind in ("creator",) else words.capitalize()

    def kind(self, tag: str) -> str:
        return KINDS.get(tag.partition(":")[0], tag.partition(":")[0])

    def phrase(self, tag: str) -> str:
        """'the genre Jazz', 'the artist Silver Circuit' — a tag named with its kind."""
        return f"the {self.kind(tag)} {self(tag)}"

    def message(self, reason: Reason) -> str:
        """The reason's message with every raw tag in it replaced by its label."""
        return _TAG.sub(lambda m: self(m.group(0)), reason.message)


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def evidence_words(interest: InterestView, labels: Labels) -> str:
    """What is left to say beyond the items: a statement, the last time, or where it came from."""
    parts: list[str] = []
    if interest.stated:
        parts.append("You told us you like it")
    elif interest.evidence and not interest.provenance:
        parts.append(
            f"Seen on {plural(interest.evidence, 'separate day or visit', 'separate days or visits')}"
        )
    if interest.last_positive is not None:
        parts.append("last on " + _day(interest.last_positive))
    return "; ".join(parts)


def _day(at: datetime) -> str:
    return f"{at.day} {at.strftime('%B %Y')}"


STATUS_WORDS = {
    "used": "shapes your recommendations now",
    "not_established": "not used yet: we wait for more than one or two signals",
    "retarget_window": "no longer used: it has been a while since you showed interest",
    "stale": "no longer used: it has faded",
    "not_consented": "not used: you have not opted in to this category",
    "muted": "muted by you",
}
