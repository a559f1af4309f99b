"""Message routes (P13): a person's message preferences, the planner, the outbox, delivery and feedback.

A person's own token may read and change their preferences and see their messages
(``profile`` scope for keys). Planning, sending and the whole outbox need ``admin``;
feedback from a mail provider or push service, and required one-off messages from the
product's backend (a password reset), need ``ingest``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tactful.api.auth import requires
from tactful.api.deps import EngineDep, LanesDep, UserId
from tactful.domain.messages import (
    TOPIC_PATTERN,
    MessageFeedback,
    OutboxMessage,
    OutboxStatus,
    PreferencesUpdate,
    PreferencesView,
    RequiredMessage,
)
from tactful.security.keys import Scope
from tactful.services.delivery import DeliveryReport
from tactful.services.messaging import FeedbackResult, PlanReport, PlanRequest

router = APIRouter(tags=["messages"])
PERSON = [requires(Scope.profile, person="user_id")]
ADMIN = [requires(Scope.admin)]
TopicPath = Annotated[str, Path(pattern=TOPIC_PATTERN, description="A topic or newsletter id.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="How many messages, newest first.")]


@router.get(
    "/users/{user_id}/message-preferences",
    response_model=PreferencesView,
    dependencies=PERSON,
    summary="A person's message preferences: channels, topics (required ones locked with their reason), "
    "cadence, window, time zone, quiet hours, pause, caps",
)
async def get_message_preferences(user_id: UserId, engine: EngineDep, lanes: LanesDep) -> PreferencesView:
    return await lanes.read.run(engine.message_preferences, user_id)


@router.patch(
    "/users/{user_id}/message-preferences",
    response_model=PreferencesView,
    dependencies=PERSON,
    summary="Change message preferences: only the fields given change; effective at once",
)
async def update_message_preferences(
    user_id: UserId, body: PreferencesUpdate, engine: EngineDep, lanes: LanesDep
) -> PreferencesView:
    return await lanes.write.run(engine.update_message_preferences, user_id, body)


@router.post(
    "/users/{user_id}/message-preferences/topics/{topic}/unsubscribe",
    response_model=PreferencesView,
    dependencies=PERSON,
    summary="Unsubscribe from one topic (a required topic answers 409 with its reason)",
)
async def unsubscribe_topic(
    user_id: UserId, topic: TopicPath, engine: EngineDep, lanes: LanesDep
) -> PreferencesView:
    return await lanes.write.run(engine.unsubscribe, user_id, topic)


@router.post(
    "/users/{user_id}/message-preferences/restore-cadence",
    response_model=PreferencesView,
    dependencies=PERSON,
    summary="Undo an automatic lowering of the digest cadence",
)
async def restore_cadence(user_id: UserId, engine: EngineDep, lanes: LanesDep) -> PreferencesView:
    return await lanes.write.run(engine.restore_cadence, user_id)


@router.get(
    "/users/{user_id}/messages",
    response_model=list[OutboxMessage],
    dependencies=PERSON,
    summary="A person's planned, sent, capped and cancelled messages, newest first",
)
async def list_person_messages(
    user_id: UserId, engine: EngineDep, lanes: LanesDep, limit: Limit = 50
) -> list[OutboxMessage]:
    return await lanes.read.run(engine.outbox, user_id, None, limit)


@router.post(
    "/users/{user_id}/messages",
    response_model=OutboxMessage,
    status_code=201,
    dependencies=[requires(Scope.ingest)],
    summary="Queue a one-off message on a required topic (a password reset): sent by the next delivery "
    "pass whatever the person unsubscribed from; 201 when new, 200 for a key already queued",
    responses={200: {"model": OutboxMessage, "description": "The message already queued under this key."}},
)
async def send_required_message(
    user_id: UserId, body: RequiredMessage, response: Response, engine: EngineDep, lanes: LanesDep
) -> OutboxMessage:
    message, added = await lanes.write.run(engine.send_required_message, user_id, body)
    if not added:
        response.status_code = 200
    return message


@router.post(
    "/messages/plan",
    response_model=PlanReport,
    dependencies=ADMIN,
    summary="Plan every digest due now (or at the given time) into the outbox; idempotent",
)
async def plan_messages(body: PlanRequest, engine: EngineDep, lanes: LanesDep) -> PlanReport:
    return await lanes.write.run(engine.plan_messages, body.now, body.user_ids, body.dry_run)


@router.post(
    "/messages/send",
    response_model=DeliveryReport,
    dependencies=ADMIN,
    summary="One delivery pass over the due messages of the outbox",
)
async def send_messages(
    engine: EngineDep,
    lanes: LanesDep,
    limit: Annotated[int, Query(ge=1, le=5000, description="Most messages to attempt.")] = 500,
) -> DeliveryReport:
    return await lanes.write.run(engine.send_messages, None, limit)


@router.get(
    "/messages/outbox",
    response_model=list[OutboxMessage],
    dependencies=ADMIN,
    summary="The outbox, newest first, optionally one status",
)
async def list_outbox(
    engine: EngineDep, lanes: LanesDep, status: OutboxStatus | None = None, limit: Limit = 100
) -> list[OutboxMessage]:
    return await lanes.read.run(engine.outbox, None, None if status is None else status.value, limit)


@router.post(
    "/messages/feedback",
    response_model=FeedbackResult,
    dependencies=[requires(Scope.ingest)],
    summary="Report an open, click, unsubscribe, complaint, soft or hard bounce on a message",
)
async def message_feedback(body: MessageFeedback, engine: EngineDep, lanes: LanesDep) -> FeedbackResult:
    return await lanes.write.run(engine.message_feedback, body)
