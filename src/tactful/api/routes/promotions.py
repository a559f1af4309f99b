"""Promotion routes (admin): create, list, read, update and end promotions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from tactful.api.auth import current_principal, requires
from tactful.api.deps import EngineDep, LanesDep
from tactful.domain.identifiers import ID_PATTERN
from tactful.errors import NotFound
from tactful.policy.promotions import Promotion, PromotionSpec, PromotionUpdate
from tactful.security.keys import Scope

router = APIRouter(tags=["promotions"])
PromotionId = Annotated[str, Path(pattern=ID_PATTERN, description="The promotion's id.")]
ADMIN = [requires(Scope.admin)]


class PromotionList(BaseModel):
    promotions: list[Promotion]


@router.post(
    "/promotions", response_model=Promotion, status_code=201, summary="Create a promotion", dependencies=ADMIN
)
async def create_promotion(
    body: PromotionSpec, request: Request, engine: EngineDep, lanes: LanesDep
) -> Promotion:
    return await lanes.write.run(engine.create_promotion, body, actor=current_principal(request).actor)


@router.get("/promotions", response_model=PromotionList, summary="List promotions", dependencies=ADMIN)
async def list_promotions(
    engine: EngineDep,
    lanes: LanesDep,
    include_ended: Annotated[bool, Query(description="Also list ended promotions.")] = True,
) -> PromotionList:
    return PromotionList(promotions=await lanes.read.run(engine.promotions, include_ended))


@router.get(
    "/promotions/{promotion_id}",
    response_model=Promotion,
    summary="One running or scheduled promotion",
    description="An ended promotion (DELETE) is gone from here (404); "
    "`GET /v1/promotions?include_ended=true` and the audit log keep its history.",
    dependencies=ADMIN,
)
async def get_promotion(promotion_id: PromotionId, engine: EngineDep, lanes: LanesDep) -> Promotion:
    promotion = await lanes.read.run(engine.get_promotion, promotion_id)
    if promotion.status == "ended":
        raise NotFound(f"promotion {promotion_id!r} has ended", field="promotion_id")
    return promotion


@router.patch(
    "/promotions/{promotion_id}", response_model=Promotion, summary="Update a promotion", dependencies=ADMIN
)
async def update_promotion(
    promotion_id: PromotionId, body: PromotionUpdate, request: Request, engine: EngineDep, lanes: LanesDep
) -> Promotion:
    actor = current_principal(request).actor
    return await lanes.write.run(engine.update_promotion, promotion_id, body, actor=actor)


@router.delete(
    "/promotions/{promotion_id}", response_model=Promotion, summary="End a promotion now", dependencies=ADMIN
)
async def end_promotion(
    promotion_id: PromotionId, request: Request, engine: EngineDep, lanes: LanesDep
) -> Promotion:
    return await lanes.write.run(engine.end_promotion, promotion_id, actor=current_principal(request).actor)
