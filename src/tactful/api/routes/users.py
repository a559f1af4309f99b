"""Per-person routes: recommendations, profile, and the person record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import ConfigDict, Field

from tactful.api.auth import requires
from tactful.api.deps import Count, EngineDep, LanesDep, Surface, UserId
from tactful.api.responses import model_json
from tactful.api.schemas import RerankRequest
from tactful.domain.identifiers import EntityId
from tactful.domain.person import Person
from tactful.domain.recommendation import ProfileView, Recommendations
from tactful.errors import Conflict
from tactful.security.keys import Scope

router = APIRouter(tags=["people"])


class PersonBody(Person):
    """The person record as sent to ``PUT /v1/users/{user_id}``: the path names the person."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "timezone": "Europe/Paris",
                    "stated_interests": ["genre:jazz"],
                    "muted_topics": ["topic:wedding"],
                    "consent": {"personalization": True, "provenances": ["explicit", "observed"]},
                }
            ]
        },
    )

    id: EntityId | None = Field(  # type: ignore[assignment]
        None, description="Optional; when given it must be the path's id (409 otherwise)."
    )


@router.get(
    "/users/{user_id}/recommendations",
    response_model=Recommendations,
    response_model_exclude_none=True,
    summary="Recommendations for a person on a surface",
    dependencies=[requires(Scope.serve, person="user_id")],
)
async def get_recommendations(
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
    "`explain: full`); unknown ids get a 404 (`unknown_item`) naming them.",
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
async def get_profile(user_id: UserId, engine: EngineDep, lanes: LanesDep) -> ProfileView:
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
async def put_person(user_id: UserId, body: PersonBody, engine: EngineDep, lanes: LanesDep) -> Person:
    if body.id is not None and body.id != user_id:
        raise Conflict("the body's id names another person than the path", field="id")
    # only the fields given count as set (a PUT leaves the others as they are)
    person = Person.model_validate(body.model_dump(exclude={"id"}, exclude_unset=True) | {"id": user_id})
    return await lanes.write.run(engine.save_person, person)
