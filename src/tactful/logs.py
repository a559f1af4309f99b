"""Logging for servers: text for people or one JSON object per line, each with its request id.

The request id is set by the HTTP layer for the time of a request (and copied into the
thread that runs the request's engine call), so every line a request causes, in any
module, carries it; the same id is echoed in the ``X-Request-ID`` response header.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("tactful_request_id", default=None)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's terminal copy of the message
    "rid",
}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", ...extra fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid is not None:
            body["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in body and not key.startswith("_"):
                body[key] = value
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(body, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(rid)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = request_id.get()
        record.rid = f" [{rid}]" if rid else ""
        return super().format(record)


def configure(fmt: str = "text", level: str = "info") -> None:
    """One handler on stderr for tactful's and uvicorn's loggers, in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    quiet = logging.getLogger("uvicorn.access")  # tactful.access logs each request, with its id
    quiet.handlers.clear()
    quiet.propagate = False


def uvicorn_log_config() -> dict[str, Any]:
    """Tells uvicorn to leave logging as :func:`configure` set it."""
    return {"version": 1, "disable_existing_loggers": False}
