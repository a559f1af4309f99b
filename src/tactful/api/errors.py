"""Turning every failure into the structured ``{"error": {...}}`` shape (SPEC §7)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            _body(code, str(exc.detail), None), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(_body("internal", "internal error", None), status_code=500)
