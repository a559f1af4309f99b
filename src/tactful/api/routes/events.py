"""Event routes: single events and atomic batches."""

from __future__ import annotations

from fastapi import APIRouter

from tactful.api.auth import requires
from tactful.api.deps import EngineDep, LanesDep
from tactful.domain.event import Event, EventBatch, IngestResult
from tactful.security.keys import Scope

router = APIRouter(tags=["events"])


@router.post(
    "/events",
    response_model=IngestResult,
    summary="Record one event",
    dependencies=[requires(Scope.ingest)],
)
async def record_event(event: Event, engine: EngineDep, lanes: LanesDep) -> IngestResult:
    return await lanes.write.run(engine.ingest, [event])


@router.post(
    "/events/batch",
    response_model=IngestResult,
    summary="Record up to 10,000 events, all or nothing",
    dependencies=[requires(Scope.ingest)],
)
async def record_events(batch: EventBatch, engine: EngineDep, lanes: LanesDep) -> IngestResult:
    return await lanes.write.run(engine.ingest, batch.events)
