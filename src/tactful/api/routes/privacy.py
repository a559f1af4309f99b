"""A person's data rights: export, erasure, and user tokens for self-service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from tactful.api.auth import current_principal, requires
from tactful.api.deps import EngineDep, LanesDep, UserId
from tactful.domain.strict import JSON_NUMBER
from tactful.privacy.erasure import ErasureReport
from tactful.privacy.export import PersonExport
from tactful.security.keys import Scope
from tactful.security.tokens import TOKEN_ID_PATTERN

router = APIRouter(tags=["privacy"])


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ttl_seconds": 3600}]})

    ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86400), JSON_NUMBER] | None = Field(
        None, description="Lifetime (default auth.token_ttl_seconds)."
    )


class TokenResponse(BaseModel):
    token: str
    token_id: str = Field(
        description="Revoke this one token with DELETE /v1/users/{user_id}/tokens/{token_id}."
    )
    user_id: str
    expires_at: datetime


class Revoked(BaseModel):
    user_id: str
    token_id: str | None = Field(None, description="The token revoked; absent when all were.")
    revoked: int | None = Field(None, description="1 if newly revoked, 0 if it already was; absent for all.")


TokenId = Annotated[str, Path(pattern=TOKEN_ID_PATTERN, description="A token's id (from its issue).")]


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
        return TokenResponse(
            token=token, token_id=claims.token_id or "", user_id=user_id, expires_at=claims.expires_at
        )

    return await lanes.write.run(issue)


@router.delete(
    "/users/{user_id}/tokens",
    response_model=Revoked,
    response_model_exclude_none=True,
    summary="Revoke every token issued to this person so far (on every worker at once)",
    dependencies=[requires(Scope.profile, person="user_id")],
)
async def revoke_user_tokens(
    user_id: UserId, engine: EngineDep, lanes: LanesDep, request: Request
) -> Revoked:
    actor = current_principal(request).actor
    done = await lanes.write.run(engine.revoke_user_tokens, user_id, actor=actor)
    return Revoked(user_id=done.user_id)


@router.delete(
    "/users/{user_id}/tokens/{token_id}",
    response_model=Revoked,
    response_model_exclude_none=True,
    summary="Revoke one of this person's tokens by its id",
    dependencies=[requires(Scope.profile, person="user_id")],
)
async def revoke_user_token(
    user_id: UserId, token_id: TokenId, engine: EngineDep, lanes: LanesDep, request: Request
) -> Revoked:
    actor = current_principal(request).actor
    done = await lanes.write.run(engine.revoke_user_token, token_id, user_id, actor=actor)
    return Revoked(user_id=done.user_id, token_id=done.token_id, revoked=done.revoked)
