"""Profile control routes (P8, P11): state or remove interests, mute topics, change consent.

Every change takes effect on the next request and returns the updated profile. A user
token may change only its own person; keys need the ``profile`` scope.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from tactful.api.auth import requires
from tactful.api.deps import EngineDep, LanesDep, UserId
from tactful.domain.identifiers import Tag
from tactful.domain.person import Consent
from tactful.domain.recommendation import ProfileView
from tactful.security.keys import Scope

router = APIRouter(tags=["profile control"])
TagPath = Annotated[
    Tag,
    Path(description="A tag, 'namespace:value' (URL-encode reserved characters; case-insensitive)."),
]
GUARD = [requires(Scope.profile, person="user_id")]
PROFILE_ROUTE: dict[str, Any] = {
    "response_model": ProfileView,
    "response_model_exclude_none": True,
    "dependencies": GUARD,
}


@router.post(
    "/users/{user_id}/interests/{tag}",
    **PROFILE_ROUTE,
    summary="State an interest: an explicit signal that overrides inference",
)
async def state_interest(user_id: UserId, tag: TagPath, engine: EngineDep, lanes: LanesDep) -> ProfileView:
    return await lanes.write.run(engine.state_interest, user_id, tag)


@router.delete(
    "/users/{user_id}/interests/{tag}",
    **PROFILE_ROUTE,
    summary="Remove an interest: deleted, and not learned again until stated",
)
async def remove_interest(user_id: UserId, tag: TagPath, engine: EngineDep, lanes: LanesDep) -> ProfileView:
    return await lanes.write.run(engine.remove_interest, user_id, tag)


@router.post(
    "/users/{user_id}/mutes/{tag}",
    **PROFILE_ROUTE,
    summary="Mute a topic: gone from recommendations at once, its interest deleted and not re-learned",
)
async def mute_topic(user_id: UserId, tag: TagPath, engine: EngineDep, lanes: LanesDep) -> ProfileView:
    return await lanes.write.run(engine.mute_topic, user_id, tag)


@router.delete(
    "/users/{user_id}/mutes/{tag}",
    **PROFILE_ROUTE,
    summary="Unmute a topic",
)
async def unmute_topic(user_id: UserId, tag: TagPath, engine: EngineDep, lanes: LanesDep) -> ProfileView:
    return await lanes.write.run(engine.unmute_topic, user_id, tag)


@router.put(
    "/users/{user_id}/consent",
    **PROFILE_ROUTE,
    summary="Replace consent: personalization on/off, allowed provenances, sensitive opt-ins",
)
async def set_consent(user_id: UserId, body: Consent, engine: EngineDep, lanes: LanesDep) -> ProfileView:
    return await lanes.write.run(engine.set_consent, user_id, body)
