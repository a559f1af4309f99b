"""Promotion routes (admin): create, list, read, update and end promotions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from tactful.api.auth import current_principal, requires
from tactful.api.deps import get_engine
from tactful.domain.identifiers import ID_PATTERN
from tactful.engine import Engine
from tactful.policy.promotions import Promotion, PromotionSpec, PromotionUpdate
from tactful.security.keys import Scope

router = APIRouter(tags=["promotions"])
EngineDep = Annotated[Engine, Depends(get_engine)]
PromotionId = Annotated[str, Path(pattern=ID_PATTERN, description="The promotion's id.")]
ADMIN = [requires(Scope.admin)]


class PromotionList(BaseModel):
    promotions: list[Promotion]


@router.post(
    "/promotions", response_model=Promotion, status_code=201, summary="Create a promotion", dependencies=ADMIN
)
def create(body: PromotionSpec, request: Request, engine: EngineDep) -> Promotion:
    return engine.create_promotion(body, actor=current_principal(request).actor)


@router.get("/promotions", response_model=PromotionList, summary="List promotions", dependencies=ADMIN)
def list_all(
    engine: EngineDep,
    include_ended: Annotated[bool, Query(description="Also list ended promotions.")] = True,
) -> PromotionList:
    return PromotionList(promotions=engine.promotions(include_ended))


@router.get(
    "/promotions/{promotion_id}", response_model=Promotion, summary="One promotion", dependencies=ADMIN
)
def get_one(promotion_id: PromotionId, engine: EngineDep) -> Promotion:
    return engine.get_promotion(promotion_id)


@router.patch(
    "/promotions/{promotion_id}", response_model=Promotion, summary="Update a promotion", dependencies=ADMIN
)
def update(
    promotion_id: PromotionId, body: PromotionUpdate, request: Request, engine: EngineDep
) -> Promotion:
    return engine.update_promotion(promotion_id, body, actor=current_principal(request).actor)


@router.delete(
    "/promotions/{promotion_id}", response_model=Promotion, summary="End a promotion now", dependencies=ADMIN
)
def end(promotion_id: PromotionId, request: Request, engine: EngineDep) -> Promotion:
    return engine.end_promotion(promotion_id, actor=current_principal(request).actor)
