"""Promotions: business-chosen items or tags, targeted on established interests, capped per person.

A promoted placement is a slot the engine fills *because* of a promotion (reason code
``promoted``). Caps and windows count promoted placements the engine served to the person,
so they hold whether or not the client reports impressions; the same item shown because
it genuinely fits the person is an organic slot and does not count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tactful.domain.identifiers import EntityId, ShortText, Tag, TypeName
from tactful.domain.recommendation import Reason
from tactful.domain.strict import JSON_NUMBER, Instant
from tactful.index.catalog import CatalogIndex
from tactful.signals.profile import DAY


class PromotionSpec(BaseModel):
    """What a business wants promoted, to whom, how often."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # the rule _something enforces, so generated clients check it too
            "anyOf": [
                {"required": ["items"], "properties": {"items": {"minItems": 1}}},
                {"required": ["tags"], "properties": {"tags": {"minItems": 1}}},
            ],
            "examples": [
                {
                    "name": "Summer jazz",
                    "tags": ["genre:jazz"],
                    "target_tags": ["genre:soul"],
                    "surfaces": ["home"],
                    "cap": 3,
                    "window_days": 7,
                }
            ],
        },
    )

    id: EntityId | None = Field(None, description="Chosen by the caller, or generated.")
    name: ShortText = Field("", description="Shown in the 'promoted' reason.")
    items: list[EntityId] = Field(default_factory=list, max_length=1000, description="Promoted items.")
    tags: list[Tag] = Field(default_factory=list, max_length=64, description="Promote every item with a tag.")
    target_tags: list[Tag] = Field(
        default_factory=list,
        max_length=64,
        description="Shown only to people with one of these established (or stated) interests; "
        "empty means untargeted.",
    )
    surfaces: list[TypeName] = Field(default_factory=list, max_length=32, description="Empty: every surface.")
    cap: Annotated[int, Field(ge=1, le=1000), JSON_NUMBER] | None = Field(
        None, description="Promoted placements per person per window."
    )
    window_days: Annotated[float, Field(gt=0, le=365), JSON_NUMBER] | None = Field(
        None, description="Window the cap counts over."
    )
    starts_at: Instant | None = Field(None, description="Default: now.")
    ends_at: Instant | None = Field(None, description="Default: open-ended (until ended).")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.items and not self.tags:
            raise ValueError("a promotion needs at least one item or tag")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PromotionUpdate(BaseModel):
    """A partial update: only the fields given change."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"cap": 5, "name": "Jazz week"}]}
    )

    name: ShortText | None = None
    items: list[EntityId] | None = Field(None, max_length=1000)
    tags: list[Tag] | None = Field(None, max_length=64)
    target_tags: list[Tag] | None = Field(None, max_length=64)
    surfaces: list[TypeName] | None = Field(None, max_length=32)
    cap: Annotated[int, Field(ge=1, le=1000), JSON_NUMBER] | None = None
    window_days: Annotated[float, Field(gt=0, le=365), JSON_NUMBER] | None = None
    starts_at: Instant | None = None
    ends_at: Instant | None = None


class Promotion(BaseModel):
    """A stored promotion."""

    id: str
    name: str
    items: list[str]
    tags: list[str]
    target_tags: list[str]
    surfaces: list[str]
    cap: int
    window_days: float
    starts_at: datetime
    ends_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    status: str = Field(description="scheduled, active or ended (at the time of reading).")


@dataclass(frozen=True)
class ActivePromotion:
    """The plain-data view the selection stage works with (epoch seconds)."""

    id: str
    name: str
    items: tuple[str, ...]
    tags: tuple[str, ...]
    target_tags: frozenset[str]
    surfaces: frozenset[str]
    cap: int
    window_days: float
    starts_at: float
    ends_at: float | None

    def live(self, now: float, surface: str) -> bool:
        in_time = self.starts_at <= now and (self.ends_at is None or now < self.ends_at)
        return in_time and (not self.surfaces or surface in self.surfaces)


@dataclass(frozen=True)
class PromotionCandidates:
    """Promoted items this person may be shown now, and how many placements each promotion has left."""

    positions: dict[int, str] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    targets: dict[str, str | None] = field(default_factory=dict)
    notes: list[Reason] = field(default_factory=list)


def eligible_promotions(
    promotions: list[ActivePromotion],
    catalog: CatalogIndex,
    interests: set[str],
    exposures: dict[str, list[float]],
    now: float,
    surface: str,
    enforce: bool = True,
    positions: Mapping[str, Sequence[int]] | None = None,
) -> PromotionCandidates:
    """Which promotions may place items for this person now.

    ``interests`` are the person's established (or stated) interests that may drive
    personalization; ``exposures`` the times of their past promoted placements per
    promotion. With ``enforce`` false (the plain baseline) targeting and caps are ignored.
    ``positions`` may carry :func:`promotion_positions` per promotion id, computed once per
    catalog and promotion version.
    """
    out = PromotionCandidates()
    for promo in promotions:
        if not promo.live(now, surface):
            continue
        target = None
        if promo.target_tags:
            matched = sorted(promo.target_tags & interests)
            if enforce and not matched:
                continue
            target = matched[0] if matched else None
        if enforce:
            recent = [t for t in exposures.get(promo.id, []) if t > now - promo.window_days * DAY]
            left = promo.cap - len(recent)
            if left <= 0:
                out.notes.append(
                    Reason(
                        code="promotion_capped",
                        message=f"promotion {promo.name or promo.id}: already shown {len(recent)} times "
                        f"in {promo.window_days:g} days (cap {promo.cap})",
                    )
                )
                continue
        else:
            left = 1_000_000
        out.remaining[promo.id] = left
        out.names[promo.id] = promo.name or promo.id
        out.targets[promo.id] = target
        placed = promotion_positions(promo, catalog) if positions is None else positions[promo.id]
        for pos in placed:
            out.positions.setdefault(pos, promo.id)
    return out


def promotion_positions(promo: ActivePromotion, catalog: CatalogIndex) -> list[int]:
    """Catalog positions a promotion covers: its items, then every item of each of its tags."""
    out = [catalog.index[i] for i in promo.items if i in catalog.index]
    csc = catalog.derived.item_tag_csc
    for tag in promo.tags:
        col = catalog.tag_index.get(tag)
        if col is not None:
            out.extend(csc.indices[csc.indptr[col] : csc.indptr[col + 1]].tolist())
    return out


def promoted_reason(candidates: PromotionCandidates, promotion_id: str) -> Reason:
    target = candidates.targets.get(promotion_id)
    name = candidates.names.get(promotion_id, promotion_id)
    suffix = f" for people interested in {target}" if target else ""
    return Reason(code="promoted", message=f"promoted: {name}{suffix}", tag=target)
