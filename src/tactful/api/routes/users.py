"""Per-person routes: recommendations, profile, and the person record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tactful.api.auth import requires
from tactful.api.deps import Count, EngineDep, LanesDep, Surface, UserId
from tactful.api.responses import model_json
from tactful.api.schemas import RerankRequest
from tactful.domain.person import Person
from tactful.domain.recommendation import ProfileView, Recommendations
from tactful.errors import ValidationError
from tactful.security.keys import Scope

router = APIRouter(tags=["people"])


@router.get(
    "/users/{user_id}/recommendations",
    response_model=Recommendations,
    response_model_exclude_none=True,
    summary="Recommendations for a person on a surface",
    dependencies=[requires(Scope.serve, person="user_id")],
)
async def recommendations(
    user_id: UserId,
    engine: EngineDep,
    lanes: LanesDep,
    surface: Surface = "home",
    n: Count = None,
    explain: Annotated[
        str | None, Query(pattern="^(full)$", description="'full' lists excluded candidates")
    ] = None,
) -> Response:
    found = await lanes.read.run(engine.recommend, user_id, surface=surface, n=n, explain=explain == "full")
    return model_json(found)


@router.post(
    "/users/{user_id}/rerank",
    response_model=Recommendations,
    response_model_exclude_none=True,
    summary="Order the caller's candidate items for a person",
    description="Runs the candidates through the same policy, diversity and explanation stages as "
    "recommendations. Candidates the policy excludes are left out (listed with reasons under "
    "`explain: full`); unknown ids get a 422 naming them.",
    dependencies=[requires(Scope.serve, person="user_id")],
)
async def rerank(user_id: UserId, body: RerankRequest, engine: EngineDep, lanes: LanesDep) -> Response:
    explain = body.explain == "full"
    found = await lanes.read.run(engine.rerank, user_id, body.items, surface=body.surface, explain=explain)
    return model_json(found)


@router.get(
    "/users/{user_id}/profile",
    response_model=ProfileView,
    response_model_exclude_none=True,
    summary="What tactful believes about a person, with evidence",
    dependencies=[requires(Scope.profile, person="user_id")],
)
async def profile(user_id: UserId, engine: EngineDep, lanes: LanesDep) -> ProfileView:
    return await lanes.read.run(engine.profile, user_id)


@router.get(
    "/users/{user_id}",
    response_model=Person,
    summary="The person record",
    dependencies=[requires(Scope.profile, person="user_id")],
)
async def get_person(user_id: UserId, engine: EngineDep, lanes: LanesDep) -> Person:
    return await lanes.read.run(engine.person, user_id)


@router.put(
    "/users/{user_id}",
    response_model=Person,
    summary="Create or update the person record (fields left out stay as they are)",
    description="Applies the same rules as the profile-control routes: a new mute or an opt-out "
    "forgets what was learned through it, a sensitive stated interest needs the opt-in, a dropped "
    "mute is an unmute. Lists given replace the current ones. Refused changes get a 4xx and change nothing.",
    dependencies=[requires(Scope.profile, person="user_id")],
)
async def put_person(user_id: UserId, body: Person, engine: EngineDep, lanes: LanesDep) -> Person:
    if body.id != user_id:
        raise ValidationError("body id must match the path", field="id")
    return await lanes.write.run(engine.save_person, body)
