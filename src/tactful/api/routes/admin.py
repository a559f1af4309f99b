"""Operator routes: the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tactful.api.auth import requires
from tactful.api.deps import EngineDep, LanesDep
from tactful.security.audit import AuditPage
from tactful.security.keys import Scope

router = APIRouter(tags=["admin"])


@router.get(
    "/audit",
    response_model=AuditPage,
    response_model_exclude_none=True,
    summary="Audit log: admin actions, policy overrides, exports, erasures, retention",
    dependencies=[requires(Scope.admin)],
)
async def list_audit(
    engine: EngineDep,
    lanes: LanesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="Page: entries older than this seq.")
    ] = None,
    action: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_.]{0,63}$")] = None,
) -> AuditPage:
    return await lanes.read.run(engine.audit.entries, limit=limit, before=before, action=action)
