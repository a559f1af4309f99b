"""The web pages: a person's feed with like/dislike buttons and their profile (P12)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from tactful.api.auth import Principal, current_principal, requires
from tactful.api.deps import EngineDep, LanesDep
from tactful.domain.event import Event, EventContext
from tactful.domain.identifiers import ID_PATTERN
from tactful.security.keys import Scope

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
FEEDBACK = {"like": "like", "dislike": "dislike", "save": "save", "dismiss": "dismiss"}
PEOPLE_SHOWN = 12


def may_list_people(principal: Principal) -> bool:
    """Whether the page may name other people (ids can be e-mail addresses): only in the demo
    (authentication off) or to an admin key. A person's own token, or a serve or profile
    key, sees only the person asked for."""
    return principal.kind != "user" and Scope.admin in principal.scopes


@router.get(
    "/", response_class=HTMLResponse, dependencies=[requires(Scope.serve, Scope.profile, person="user")]
)
async def feed(
    request: Request,
    engine: EngineDep,
    lanes: LanesDep,
    user: Annotated[str, Query(pattern=ID_PATTERN)] = "demo-new",
    n: Annotated[int, Query(ge=1, le=50)] = 12,
) -> HTMLResponse:
    principal = current_principal(request)
    own = principal.kind == "user"  # a person's own token: their page and nothing else

    def render() -> HTMLResponse:
        recs = engine.recommend(user, surface="home", n=n)
        profile = engine.profile(user)
        people = engine.store.sample_person_ids(PEOPLE_SHOWN) if may_list_people(principal) else []
        return templates.TemplateResponse(
            request,
            "feed.html",
            {"recs": recs, "profile": profile, "user": user, "people": people, "own": own},
        )

    return await lanes.read.run(render)


@router.post("/ui/feedback", dependencies=[requires(Scope.ingest, person="user")])
async def feedback(
    engine: EngineDep,
    lanes: LanesDep,
    user: Annotated[str, Query(pattern=ID_PATTERN)],  # in the query, where the guard checks a token
    item: Annotated[str, Form(pattern=ID_PATTERN)],
    action: Annotated[str, Form(pattern="^(like|dislike|save|dismiss)$")],
    recommendation_id: Annotated[str | None, Form(pattern=ID_PATTERN)] = None,
) -> RedirectResponse:
    await lanes.write.run(
        engine.ingest,
        [
            Event(
                user_id=user,
                item_id=item,
                type=FEEDBACK[action],
                surface="home",
                recommendation_id=recommendation_id,
                context=EventContext(device="web"),
            )
        ],
    )
    return RedirectResponse(f"/?user={quote(user, safe='')}", status_code=303)
