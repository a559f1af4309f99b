"""Row <-> domain conversions for the SQL backend (JSON columns, epoch floats)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from tactful.clock import from_epoch, to_epoch
from tactful.domain.item import Item, ItemAttributes
from tactful.domain.person import Consent, Person
from tactful.signals.profile import DecayedScores, Held, ItemState, TagInterest, Trace


def dumps(value: Any) -> str:
    """Compact JSON (orjson: ingest writes a JSON column per touched row, so this is hot)."""
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def loads_many(texts: Sequence[str]) -> list[Any]:
    """Decode many stored JSON values in one parse (one call per row costs several times more)."""
    return orjson.loads("[" + ",".join(texts) + "]") if texts else []


def item_row(item: Item, now: float) -> dict[str, Any]:
    created = to_epoch(item.created_at) if item.created_at else now
    return {
        "id": item.id,
        "title": item.title,
        "tags": dumps(item.tags),
        "attributes": item.attributes.model_dump_json(exclude_defaults=True),
        "sensitive": dumps(item.sensitive),
        "created_at": created,
        "updated_at": now,
    }


def row_item(row: Any) -> Item:
    return Item.model_construct(
        id=row.id,
        title=row.title,
        tags=loads(row.tags),
        attributes=ItemAttributes.model_validate_json(row.attributes),
        sensitive=loads(row.sensitive),
        created_at=from_epoch(row.created_at),
    )


def person_row(person: Person, positive: int, days: list[int], created: float) -> dict[str, Any]:
    return {
        "id": person.id,
        "timezone": person.timezone,
        "consent": person.consent.model_dump_json(),
        "stated": dumps(person.stated_interests),
        "muted": dumps(person.muted_topics),
        "blocked": dumps(person.blocked_interests),
        "positive_signals": positive,
        "active_days": dumps(days),
        "created_at": created,
    }


def row_person(row: Any) -> Person:
    return Person.model_construct(
        id=row.id,
        timezone=row.timezone,
        consent=Consent.model_validate_json(row.consent),
        stated_interests=loads(row.stated),
        muted_topics=loads(row.muted),
        blocked_interests=loads(row.blocked),
    )


def interest_row(user_id: str, tag: str, interest: TagInterest, version: int) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "tag": tag,
        "version": version,
        "scores": dumps(interest.scores.parts),
        "evidence": dumps(interest.evidence),
        "last_positive": interest.last_positive,
        "established": interest.established,
    }


INTEREST_COLUMNS = ("user_id", "tag", "version", "scores", "evidence", "last_positive", "established")


def interest_tuple(user_id: str, tag: str, interest: TagInterest, version: int) -> tuple[Any, ...]:
    """:func:`interest_row` as a tuple in :data:`INTEREST_COLUMNS` order (batch writes)."""
    return (
        user_id,
        tag,
        version,
        orjson.dumps(interest.scores.parts).decode(),
        orjson.dumps(interest.evidence).decode(),
        interest.last_positive,
        interest.established,
    )


def row_interest(row: Any) -> TagInterest:
    return TagInterest(
        scores=DecayedScores(loads(row.scores)),
        evidence=loads(row.evidence),
        last_positive=row.last_positive,
        established=bool(row.established),
    )


def trace_json(trace: Trace) -> str:
    """A trace as compact JSON: per group of tags taught together ``[tags, scores, evidence,
    last_positive]``, the counters and the held statements."""
    if not trace.tags and not trace.positives and not trace.days and not trace.held:
        return "{}"
    groups: dict[int, list[Any]] = {}  # per part (tags taught together), in first-tag order
    for tag, part in trace.tags.items():
        group = groups.get(id(part))
        if group is None:
            groups[id(part)] = [[tag], part.scores.parts, part.evidence, part.last_positive]
        else:
            group[0].append(tag)
    out: dict[str, Any] = {"g": list(groups.values()), "n": trace.positives, "d": trace.days}
    if trace.held:
        out["h"] = {
            slot: [h.statement, h.weight, h.provenance, h.at, h.share, h.tags, h.hard_negative]
            for slot, h in trace.held.items()
        }
    return dumps(out)


def json_trace(value: Any) -> Trace:
    if not value:
        return Trace()
    tags = {
        tag: TagInterest(scores=DecayedScores(parts), evidence=evidence, last_positive=last)
        for tag, (parts, evidence, last) in value.get("t", {}).items()  # one part per tag (older rows)
    }
    for names, parts, evidence, last in value.get("g", ()):
        part = TagInterest(scores=DecayedScores(parts), evidence=evidence, last_positive=last)
        for tag in names:
            tags[tag] = part
    held = {
        slot: Held(statement, weight, prov, at, share, list(tags), bool(hard))
        for slot, (statement, weight, prov, at, share, tags, hard) in value.get("h", {}).items()
    }
    return Trace(tags, int(value.get("n", 0)), list(value.get("d", [])), held)


def item_state_row(user_id: str, item_id: str, state: ItemState, version: int) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "item_id": item_id,
        "version": version,
        "scores": dumps(state.scores.parts),
        "disliked": state.disliked,
        "consumed": state.consumed,
        "impressions": state.impressions,
        "last_impression": state.last_impression,
        "last_engaged": state.last_engaged,
        "unengaged": state.unengaged,
        "trace": trace_json(state.trace),
    }


ITEM_STATE_COLUMNS = (
    "user_id",
    "item_id",
    "version",
    "scores",
    "disliked",
    "consumed",
    "impressions",
    "last_impression",
    "last_engaged",
    "unengaged",
    "trace",
)


def item_state_tuple(user_id: str, item_id: str, state: ItemState, version: int) -> tuple[Any, ...]:
    """:func:`item_state_row` as a tuple in :data:`ITEM_STATE_COLUMNS` order (batch writes)."""
    return (
        user_id,
        item_id,
        version,
        orjson.dumps(state.scores.parts).decode(),
        state.disliked,
        state.consumed,
        state.impressions,
        state.last_impression,
        state.last_engaged,
        state.unengaged,
        trace_json(state.trace),
    )


def row_item_state(row: Any) -> ItemState:
    return ItemState(
        scores=DecayedScores(loads(row.scores)),
        disliked=bool(row.disliked),
        consumed=bool(row.consumed),
        impressions=row.impressions,
        last_impression=row.last_impression,
        last_engaged=row.last_engaged,
        unengaged=row.unengaged,
        trace=json_trace(loads(row.trace)),
    )
