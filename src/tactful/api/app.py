"""The FastAPI application: versioned routes under /v1, structured errors, admission
(credentials before the body, body limits)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

import tactful
from tactful.api.admission import MAX_BODY_BYTES, Admission
from tactful.api.auth import Gatekeeper, deny_undeclared, public, requires, route_table
from tactful.api.docs import install_docs
from tactful.api.errors import ERROR_RESPONSES, install_error_handlers
from tactful.api.lanes import Lanes
from tactful.api.observe import Observe
from tactful.api.routes import (
    admin,
    catalog,
    events,
    experiments,
    health,
    messages,
    privacy,
    profile_control,
    promotions,
    users,
)
from tactful.api.routes.health import metrics_text
from tactful.engine import Engine
from tactful.errors import ConfigurationError
from tactful.security.http import install_http_hardening
from tactful.security.keys import Scope

log = logging.getLogger("tactful.api")


SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`tk_…`) or an end-user token (`tut_…`).",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same credential in the `X-API-Key` header.",
    },
}


def operation_id(route: APIRoute) -> str:
    """A readable operationId: the route function's name in camelCase (``getRecommendations``)."""
    head, *rest = route.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _openapi_builder(app: FastAPI, engine: Engine) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document with what the routes alone cannot say: who may call each
    operation, and the event types this engine's rules know (they are configurable)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        doc.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for entry in route_table(app):
            if not entry.route.include_in_schema or entry.guard is None:
                continue
            operations = doc.get("paths", {}).get(entry.path, {})
            for method in entry.methods:
                operation = operations.get(method.lower())
                if operation is None:
                    continue
                if entry.guard.public:
                    operation["security"] = []
                else:
                    operation["security"] = [{"bearer": []}, {"apiKey": []}]
                    operation["description"] = (
                        operation.get("description", "") + f"\n\nAccess: {entry.guard.describe()}."
                    ).strip()
        event = doc["components"].get("schemas", {}).get("Event", {})
        if "type" in event.get("properties", {}):
            rules = engine.rules.rules
            event["properties"]["type"]["enum"] = sorted(rules)
            # what ingest checks per type: these types need an item
            without_item = sorted(name for name, rule in rules.items() if not rule.needs_item)
            event["anyOf"] = [
                {"required": ["item_id"], "properties": {"item_id": {"type": "string"}}},
                {"properties": {"type": {"enum": without_item}}},
            ]
        undo = doc["components"].get("schemas", {}).get("UndoRequest", {}).get("properties", {})
        hard = sorted(name for name, rule in engine.rules.rules.items() if rule.hard_negative)
        for option in undo.get("types", {}).get("anyOf", []):
            if option.get("type") == "array":  # only a thumbs-down can be undone
                option["items"] = {"type": "string", "enum": hard}
        _publish_topics(doc, sorted(engine.messaging.topics))
        app.openapi_schema = doc
        return doc

    return build


def _publish_topics(doc: dict[str, Any], topics: list[str]) -> None:
    """This deployment's message topics (settings.messaging.topics) as the enum of topic ids."""
    update = doc.get("components", {}).get("schemas", {}).get("PreferencesUpdate", {})
    for branch in update.get("properties", {}).get("topics", {}).get("anyOf", []):
        if branch.get("type") == "object":
            branch["propertyNames"] = {"enum": topics}
    for path, operations in doc.get("paths", {}).items():
        if "{topic}" not in path:
            continue
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "topic":
                    parameter.setdefault("schema", {})["enum"] = topics


def create_app(
    engine: Engine,
    routers: Sequence[APIRouter] = (),
    on_shutdown: Sequence[Callable[[], object]] = (),
) -> FastAPI:
    """Build the API around an engine (the engine is injected, not created here).

    ``routers`` are mounted beside ``/v1`` (the web layer passes its pages here). When the
    app shuts down (its ASGI lifespan), it finishes the requests it admitted, calls
    ``on_shutdown`` (e.g. stopping a retrainer), then closes the engine, which writes the
    served lists and back-off counters still buffered.
    """
    lanes = Lanes(engine.settings.serving)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.stopping = True
        await asyncio.to_thread(shutdown)

    def shutdown() -> None:
        lanes.shutdown(wait=True)
        for stop in on_shutdown:
            try:
                stop()
            except Exception:
                log.exception("shutdown step %r failed", stop)
        engine.close()

    app = FastAPI(
        title="tactful",
        version=tactful.__version__,
        description="Personalization that learns from every signal and knows when to back off.",
        responses=ERROR_RESPONSES,
        dependencies=[Depends(deny_undeclared)],
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,  # install_docs serves them from the package instead of a CDN
        redoc_url=None,
        swagger_ui_parameters={"persistAuthorization": True},
    )
    install_docs(app)
    app.state.engine = engine
    app.state.lanes = lanes
    app.state.gatekeeper = Gatekeeper(engine)
    install_error_handlers(app)
    app.add_middleware(Admission, limit=MAX_BODY_BYTES)

    for module in (
        health,
        catalog,
        events,
        users,
        profile_control,
        promotions,
        privacy,
        admin,
        messages,
        experiments,
    ):
        app.include_router(module.router, prefix="/v1")
    for router in routers:
        app.include_router(router)
    ids = [operation_id(r) for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema]
    if len(ids) != len(set(ids)):
        raise RuntimeError(f"two routes share an operationId: {sorted(i for i in ids if ids.count(i) > 1)}")
    app.openapi = _openapi_builder(app, engine)  # type: ignore[method-assign]
    serving = engine.settings.serving
    if serving.metrics != "off":
        guard = public() if serving.metrics == "public" else requires(Scope.admin)
        app.add_api_route(
            "/metrics", metrics_text, methods=["GET"], dependencies=[guard], include_in_schema=False
        )
    install_http_hardening(app, engine.settings.http)
    paths = lambda: {id(entry.route): entry.path for entry in route_table(app)}  # noqa: E731
    app.add_middleware(Observe, access_log=serving.access_log, paths=paths)  # outermost: measures all
    if serving.opentelemetry:
        instrument(app)
    return app


def instrument(app: FastAPI) -> None:
    """OpenTelemetry traces for every request (the otel extra; exporters from OTEL_* variables)."""
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    except ImportError as exc:
        raise ConfigurationError(
            "serving.opentelemetry needs the otel extra: pip install 'tactful[otel]'", field="serving"
        ) from exc
    FastAPIInstrumentor.instrument_app(app, excluded_urls="/metrics,/v1/health/live,/v1/health/ready")
