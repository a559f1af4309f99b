"""Event routes: single events and atomic batches."""

from __future__ import annotations

from fastapi import APIRouter

from tactful.api.auth import requires
from tactful.api.deps import EngineDep, LanesDep, UserId
from tactful.api.json_body import validated_json_route
from tactful.api.schemas import UndoRequest, UndoResult
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


async def record_events(batch: EventBatch, engine: EngineDep, lanes: LanesDep) -> IngestResult:
    return await lanes.write.run(engine.ingest, batch.events)


router.add_api_route(  # a 10k-event body is validated from its bytes (see json_body)
    "/events/batch",
    record_events,
    methods=["POST"],
    response_model=IngestResult,
    summary="Record up to 10,000 events, all or nothing",
    dependencies=[requires(Scope.ingest)],
    route_class_override=validated_json_route(EventBatch),
)


@router.post(
    "/users/{user_id}/undo",
    response_model=UndoResult,
    summary="Take back a thumbs-down on an item (undo a dislike or dismiss)",
    description="The person's hard-negative events on the item leave the event log and what they "
    "taught is taken back: the person's state equals that of someone who never sent them. The "
    "next recommendation may show the item again.",
    dependencies=[requires(Scope.ingest, person="user_id")],
)
async def undo_dislike(user_id: UserId, body: UndoRequest, engine: EngineDep, lanes: LanesDep) -> UndoResult:
    done = await lanes.write.run(engine.undo_dislike, user_id, body.item_id, body.types)
    return UndoResult(
        user_id=done.user_id,
        item_id=done.item_id,
        removed=done.removed,
        replayed=done.replayed,
        types=list(done.types),
    )
