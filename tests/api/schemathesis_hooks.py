"""Schemathesis hooks for the rules of the API that JSON Schema cannot state.

The published schema carries every rule it can express (patterns, enums, bounds, "a
promotion needs an item or a tag", "these event types need an item"). What is left compares
a value with the server's clock or with another field; generated bodies that break one of
those are not "valid data", so they are dropped here instead of being counted as
valid-but-rejected. Each rule still has its own test where it is enforced.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis

FUTURE_SLACK = timedelta(hours=23)  # the server allows a day; keep clear of the edge


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _event_ok(event: Any, now: datetime) -> bool:
    """An event's timestamp must be after 1970 and not more than a day ahead of the server."""
    if not isinstance(event, dict):
        return True
    at = _instant(event.get("timestamp"))
    return at is None or (at.year >= 1970 and at <= now + FUTURE_SLACK)


def _promotion_ok(body: dict[str, Any], now: datetime) -> bool:
    """ends_at must come after starts_at (which defaults to now)."""
    ends = _instant(body.get("ends_at"))
    if ends is None:
        return True
    starts = _instant(body.get("starts_at"))
    if starts is not None:
        return ends > starts
    return ends > now + timedelta(minutes=1)  # the server's "now" comes a moment later


def _valid_experiment(body: dict[str, Any]) -> dict[str, Any]:
    """Rules across fields of an experiment, made to hold: distinct variant names and
    surfaces, rollout percents and times increasing (a cadence when a step has no time), and
    variant configs that are valid overrides of the server's run config. The last depends on
    the server's settings and scorers, so generated configs are emptied here; overrides have
    their own tests in tests/experiments."""
    out = dict(body)
    variants = out.get("variants")
    if isinstance(variants, list):
        out["variants"] = [
            {**v, "name": f"v{k}", "config": {}} if isinstance(v, dict) else v for k, v in enumerate(variants)
        ]
    surfaces = out.get("surfaces")
    if isinstance(surfaces, list):
        out["surfaces"] = list(dict.fromkeys(surfaces))
    rollout = out.get("rollout")
    if isinstance(rollout, dict) and isinstance(rollout.get("steps"), list):
        steps = [s for s in rollout["steps"] if isinstance(s, dict)]
        percents = sorted({s.get("percent") for s in steps if isinstance(s.get("percent"), int | float)})
        if len(percents) == len(steps) and steps:
            out["rollout"] = {**rollout, "steps": [{"percent": p} for p in percents], "cadence_hours": 24}
    return out


# What the server says when a body breaks one of those rules (and nothing else).
UNSTATABLE = (
    "ends_at must be after starts_at",
    "timestamp is in the future",
    "timestamp must be between 1970 and 2200",
    "rollout percents must increase",
    "without cadence_hours every step",
    "rollout step times must increase",
    "variant names must be distinct",
    "invalid run config",
    "surfaces must be distinct",
    "a ramp only adds people",
)


@schemathesis.hook
def filter_body(context: schemathesis.HookContext, body: Any) -> bool:
    operation = context.operation
    if operation is None or not isinstance(body, dict):
        return True
    now = datetime.now(UTC)
    route = (operation.method.upper(), operation.path)
    if route == ("POST", "/v1/events"):
        return _event_ok(body, now)
    if route == ("POST", "/v1/events/batch"):
        return all(_event_ok(e, now) for e in body.get("events") or [])
    if route == ("POST", "/v1/promotions"):
        return _promotion_ok(body, now)
    return True


@schemathesis.hook
def filter_failure(context: schemathesis.HookContext, failure: Any, case: Any, response: Any) -> bool:
    """The examples and coverage phases bypass ``filter_body``: drop a "valid data rejected"
    failure only when the server's 422 names one of the rules above."""
    if getattr(failure, "code", None) != "ST202" or response.status_code != 422:
        return True
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return True
    return not any(rule in message for rule in UNSTATABLE)


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    operation = context.operation
    if operation is None or not isinstance(body, dict):
        return body
    if (operation.method.upper(), operation.path) == ("POST", "/v1/experiments"):
        return _valid_experiment(body)
    return body
