"""Every error tactful raises, and the one place that maps them to HTTP statuses."""

from __future__ import annotations

from typing import Any


class TactfulError(Exception):
    """Base class: a machine-readable code, a message and the offending field."""

    code = "error"
    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class ValidationError(TactfulError):
    code = "invalid"
    status = 422


class UnknownItem(ValidationError):
    """A well-formed request naming an item the catalog does not hold: not found, not malformed."""

    code = "unknown_item"
    status = 404


class UnknownEventType(ValidationError):
    code = "unknown_event_type"


class BatchTooLarge(TactfulError):
    code = "batch_too_large"
    status = 413


class NotFound(TactfulError):
    code = "not_found"
    status = 404


class Conflict(TactfulError):
    code = "conflict"
    status = 409


class Unauthorized(TactfulError):
    code = "unauthorized"
    status = 401


class Forbidden(TactfulError):
    code = "forbidden"
    status = 403


class RateLimited(TactfulError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: float, field: str | None = None) -> None:
        super().__init__(message, field)
        self.retry_after = retry_after


class ConfigurationError(TactfulError):
    """Settings that cannot work (an unknown scorer in a blend, say): raised at start-up."""

    code = "configuration"
    status = 500


class MissingExtra(ConfigurationError):
    """An optional part of tactful was asked for but its extra is not installed."""

    code = "missing_extra"
    status = 501

    def __init__(self, message: str, extra: str) -> None:
        super().__init__(message, field=extra)
        self.extra = extra


class StorageError(TactfulError):
    code = "storage_unavailable"
    status = 503


class SchemaMismatch(StorageError):
    """The database's schema is not the one this code runs on: `tactful db upgrade` first.

    Raised at start-up (every command, every server worker) instead of migrating implicitly.
    """

    code = "schema_mismatch"
    status = 503


class Overloaded(TactfulError):
    """The server is at capacity and shed this request before doing any of it; retry later."""

    code = "overloaded"
    status = 503

    def __init__(self, message: str, retry_after: float = 1.0, field: str | None = None) -> None:
        super().__init__(message, field)
        self.retry_after = retry_after


def http_status(error: TactfulError) -> int:
    """The HTTP status for an error: the single mapping used by the API."""
    return error.status


class CsrfRejected(TactfulError):
    """A page's form sent without this browser's CSRF token, or from another site."""

    code = "csrf_rejected"
    status = 400
