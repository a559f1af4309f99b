"""A person's data rights: export, erasure, and user tokens for self-service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from tactful.api.auth import current_principal, requires
from tactful.api.deps import EngineDep, LanesDep, UserId
from tactful.domain.strict import JSON_NUMBER
from tactful.privacy.erasure import ErasureReport
from tactful.privacy.export import PersonExport
from tactful.security.keys import Scope

router = APIRouter(tags=["privacy"])


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ttl_seconds": 3600}]})

    ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86400), JSON_NUMBER] | None = Field(
        None, description="Lifetime (default auth.token_ttl_seconds)."
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
async def export_person(
    user_id: UserId, engine: EngineDep, lanes: LanesDep, request: Request
) -> PersonExport:
    return await lanes.write.run(engine.export_person, user_id, actor=current_principal(request).actor)


@router.delete(
    "/users/{user_id}",
    response_model=ErasureReport,
    summary="Erase a person: every row, counter contribution and model factor",
    dependencies=[requires(Scope.profile, person="user_id")],
)
async def erase_person(
    user_id: UserId, engine: EngineDep, lanes: LanesDep, request: Request
) -> ErasureReport:
    return await lanes.write.run(engine.erase_person, user_id, actor=current_principal(request).actor)


@router.post(
    "/users/{user_id}/tokens",
    response_model=TokenResponse,
    summary="Issue a signed, expiring token that opens only this person's own data",
    dependencies=[requires(Scope.profile)],
)
async def issue_user_token(
    user_id: UserId, body: TokenRequest, engine: EngineDep, lanes: LanesDep
) -> TokenResponse:
    def issue() -> TokenResponse:  # the first token may create the secret file
        token = engine.issue_user_token(user_id, body.ttl_seconds)
        claims = engine.signer.verify(token, engine.clock.now())
        return TokenResponse(token=token, user_id=user_id, expires_at=claims.expires_at)

    return await lanes.write.run(issue)
