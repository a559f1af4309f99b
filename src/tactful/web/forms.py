"""A /me form's round trip: check the CSRF token and the person's session, run the change on
the write lane, and go back to /me with what changed (or why nothing did)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from starlette.responses import Response

from tactful.api.lanes import Lanes
from tactful.engine import Engine
from tactful.errors import TactfulError
from tactful.web.guard import check_csrf, me_user
from tactful.web.render import back


def me_who(engine: Engine, request: Request, csrf: str) -> str:
    check_csrf(engine, request, csrf)
    user = me_user(engine, request)
    if user is None:
        raise TactfulError("your session has ended: open your link again")
    return user


async def me_change(
    request: Request, engine: Engine, lanes: Lanes, csrf: str, work: Callable[[str], str]
) -> Response:
    try:
        user = me_who(engine, request, csrf)
        message = await lanes.write.run(work, user)
    except TactfulError as exc:
        if exc.code == "csrf_rejected":
            raise
        message = f"Nothing changed: {exc.message}"
    return back(request, "/me", message)
