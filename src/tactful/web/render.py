"""Rendering a page: the template, the labels, covers, the CSRF token and the flash message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tactful.engine import Engine
from tactful.web.covers import cover_svg
from tactful.web.guard import csrf_token, finish, set_flash, take_flash
from tactful.web.text import STATUS_WORDS, Labels

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["cover"] = cover_svg
templates.env.globals["status_words"] = STATUS_WORDS
templates.env.filters["sentence"] = lambda text: str(text)[:1].upper() + str(text)[1:]
templates.env.tests["match"] = lambda value, pattern: (
    isinstance(value, str) and re.match(pattern, value) is not None
)


def labels_for(engine: Engine) -> Labels:
    return Labels(engine.catalog().tag_labels)


def page(request: Request, engine: Engine, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response = HTMLResponse("")
    flash = take_flash(request, response)
    body = templates.get_template(name).render(
        {
            "request": request,
            "csrf": csrf_token(engine, request),
            "flash": flash,
            "label": labels_for(engine),
            **context,
        }
    )
    out = HTMLResponse(body, status_code=status)
    for key, value in response.raw_headers:  # the flash cookie's deletion
        if key == b"set-cookie":
            out.raw_headers.append((key, value))
    return finish(request, out)


def back(request: Request, url: str, message: str | None = None) -> Response:
    """The redirect after a form (POST → 303 → GET), carrying the "what changed" message."""
    response = RedirectResponse(url, status_code=303)
    if message:
        set_flash(request, response, message)
    return finish(request, response)
