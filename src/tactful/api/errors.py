"""Turning every failure into the structured ``{"error": {...}}`` shape (SPEC §7)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from tactful.api.schemas import ErrorResponse
from tactful.errors import Overloaded, RateLimited, StorageError, TactfulError, Unauthorized, http_status

log = logging.getLogger("tactful.api")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in (
        (400, "Bad request"),
        (401, "Missing or invalid credentials"),
        (403, "Out of scope"),
        (404, "Not found"),
        (409, "Conflicts with the current state (an existing id, an ended promotion)"),
        (413, "Payload too large"),
        (422, "Invalid input"),
        (429, "Rate limited"),
        (503, "Busy or the database is unavailable: retry after the Retry-After seconds"),
    )
}


def _body(code: str, message: str, field: str | None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def _field(loc: Sequence[Any]) -> str | None:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def error_response(exc: TactfulError) -> JSONResponse:
    """The response for a tactful error (also used by middleware, outside the handlers)."""
    headers: dict[str, str] | None = None
    if isinstance(exc, RateLimited | Overloaded):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    elif isinstance(exc, StorageError):
        headers = {"Retry-After": "1"}
    elif isinstance(exc, Unauthorized):
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(exc.to_dict(), status_code=http_status(exc), headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path. Routing stops at the first route whose
    path matches, so the ``Allow`` it sets names only that route's methods."""
    path = request.scope.get("path", "")
    matching = [
        ctx
        for ctx in iter_route_contexts(request.app.routes)
        if ctx.methods and getattr(ctx, "path_regex", None) is not None and ctx.path_regex.match(path)
    ]
    # as in OpenAPI, a concrete path (/v1/items/delete) wins over a template (/v1/items/{item_id})
    concrete = [ctx for ctx in matching if "{" not in (ctx.path or "")]
    methods: set[str] = set()
    for ctx in concrete or matching:
        methods |= set(ctx.methods or ())
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TactfulError)
    async def _tactful(_: Request, exc: TactfulError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
        malformed = first.get("type") == "json_invalid"
        code = "malformed_json" if malformed else "invalid"
        message = str(first.get("msg", "invalid request"))
        field = "body" if malformed else _field(first.get("loc", ()))
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        return JSONResponse(_body(code, message, field), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return JSONResponse(_body(code, str(exc.detail), None), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(_body("internal", "internal error", None), status_code=500)
