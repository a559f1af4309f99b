"""A person's data rights: export, erasure, and user tokens for self-service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from tactful.api.auth import current_principal, requires
from tactful.api.deps import UserId, get_engine
from tactful.engine import Engine
from tactful.privacy.erasure import ErasureReport
from tactful.privacy.export import PersonExport
from tactful.security.keys import Scope

router = APIRouter(tags=["privacy"])
EngineDep = Annotated[Engine, Depends(get_engine)]


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_seconds: int | None = Field(
        None, ge=60, le=30 * 86400, description="Lifetime (default auth.token_ttl_seconds)."
    )


class TokenResponse(BaseModel):
    token: str
    user_id: str
    expires_at: datetime


@router.get(
    "/users/{user_id}/export",
    response_model=PersonExport,
    summary="Everything stored about a person, as one JSON bundle",
    dependencies=[requires(Scope.profile, person="user_id")],
)
def export(user_id: UserId, engine: EngineDep, request: Request) -> PersonExport:
    return engine.export_person(user_id, actor=current_principal(request).actor)


@router.delete(
    "/users/{user_id}",
    response_model=ErasureReport,
    summary="Erase a person: every row, counter contribution and model factor",
    dependencies=[requires(Scope.profile, person="user_id")],
)
def erase(user_id: UserId, engine: EngineDep, request: Request) -> ErasureReport:
    return engine.erase_person(user_id, actor=current_principal(request).actor)


@router.post(
    "/users/{user_id}/tokens",
    response_model=TokenResponse,
    summary="Issue a signed, expiring token that opens only this person's own data",
    dependencies=[requires(Scope.profile)],
)
def issue_token(user_id: UserId, body: TokenRequest, engine: EngineDep) -> TokenResponse:
    token = engine.issue_user_token(user_id, body.ttl_seconds)
    claims = engine.signer.verify(token, engine.clock.now())
    return TokenResponse(token=token, user_id=user_id, expires_at=claims.expires_at)
