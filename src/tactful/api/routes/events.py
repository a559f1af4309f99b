"""Event routes: single events and atomic batches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tactful.api.auth import requires
from tactful.api.deps import get_engine
from tactful.domain.event import Event, EventBatch, IngestResult
from tactful.engine import Engine
from tactful.security.keys import Scope

router = APIRouter(tags=["events"])
EngineDep = Annotated[Engine, Depends(get_engine)]


@router.post(
    "/events",
    response_model=IngestResult,
    summary="Record one event",
    dependencies=[requires(Scope.ingest)],
)
def post_event(event: Event, engine: EngineDep) -> IngestResult:
    return engine.ingest([event])


@router.post(
    "/events/batch",
    response_model=IngestResult,
    summary="Record up to 10,000 events, all or nothing",
    dependencies=[requires(Scope.ingest)],
)
def post_batch(batch: EventBatch, engine: EngineDep) -> IngestResult:
    return engine.ingest(batch.events)
