"""The pages behind the links in every message: unsubscribe and restore-cadence.

Mail link scanners follow every GET, so a GET only shows a confirmation page with a
button; the change happens on POST: the page's button, or a mail client's RFC 8058
one-click POST (body ``List-Unsubscribe=One-Click``) to the ``List-Unsubscribe`` URL. The
link carries a token signed by this server (person, topic, message), so it needs no
sign-in and cannot be forged for someone else. An unsubscribe is scoped to its topic
(or every digest topic) and never touches required messages such as password resets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from tactful.api.auth import public
from tactful.api.deps import EngineDep, LanesDep
from tactful.errors import TactfulError

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
Token = Annotated[str, Query(min_length=1, max_length=2000)]


def _page(request: Request, status: int = 200, **context: object) -> HTMLResponse:
    return templates.TemplateResponse(request, "unsubscribe.html", context, status_code=status)


@router.get("/unsubscribe", response_class=HTMLResponse, dependencies=[public()])
async def unsubscribe_page(request: Request, token: Token, engine: EngineDep) -> HTMLResponse:
    """A confirmation page only: nothing changes on GET."""
    try:
        claims = engine.messaging.read_link(token)
    except TactfulError as exc:
        return _page(request, 400, error=exc.message)
    if claims.action != "unsubscribe":
        return _page(request, 400, error="this is not an unsubscribe link")
    topic = engine.messaging.topics.get(claims.topic) if claims.topic else None
    scope = topic.name if topic else "all digests"
    return _page(request, action="unsubscribe", token=token, scope=scope, done=False)


@router.post("/unsubscribe", response_class=HTMLResponse, dependencies=[public()])
async def unsubscribe_confirm(
    request: Request, token: Token, engine: EngineDep, lanes: LanesDep
) -> HTMLResponse:
    """Unsubscribe now (the page's button or a mail client's one-click POST)."""
    try:
        claims = engine.messaging.read_link(token)
        if claims.action != "unsubscribe":
            return _page(request, 400, error="this is not an unsubscribe link")
        await lanes.write.run(engine.unsubscribe, claims.user_id, claims.topic)
    except TactfulError as exc:
        return _page(request, 400, error=exc.message)
    topic = engine.messaging.topics.get(claims.topic) if claims.topic else None
    return _page(request, action="unsubscribe", scope=topic.name if topic else "all digests", done=True)


@router.get("/restore-cadence", response_class=HTMLResponse, dependencies=[public()])
async def restore_page(request: Request, token: Token, engine: EngineDep) -> HTMLResponse:
    try:
        claims = engine.messaging.read_link(token)
    except TactfulError as exc:
        return _page(request, 400, error=exc.message)
    if claims.action != "restore":
        return _page(request, 400, error="this is not a restore link")
    return _page(request, action="restore", token=token, scope="your earlier digest schedule", done=False)


@router.post("/restore-cadence", response_class=HTMLResponse, dependencies=[public()])
async def restore_confirm(request: Request, token: Token, engine: EngineDep, lanes: LanesDep) -> HTMLResponse:
    try:
        claims = engine.messaging.read_link(token)
        if claims.action != "restore":
            return _page(request, 400, error="this is not a restore link")
        view = await lanes.write.run(engine.restore_cadence, claims.user_id)
    except TactfulError as exc:
        return _page(request, 400, error=exc.message)
    return _page(request, action="restore", scope=view.cadence.describe(), done=True)
