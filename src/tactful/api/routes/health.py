"""Health: liveness, readiness (database, schema, Redis, model), version; and the metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

import tactful
from tactful.api.auth import public
from tactful.api.deps import EngineDep, LanesDep
from tactful.api.schemas import Health, Liveness, Readiness, ReadinessCheck
from tactful.engine import Engine
from tactful.metrics import exposition

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Status and schema version", dependencies=[public()])
async def get_health(engine: EngineDep, lanes: LanesDep) -> Health:
    def read() -> Health:
        return Health(
            status="ok",
            version=tactful.__version__,
            schema_version=engine.store.schema_version(),
            items=engine.store.count("items"),
            catalog_version=engine.store.catalog_version(),
        )

    return await lanes.read.run(read)


@router.get(
    "/health/live",
    response_model=Liveness,
    summary="Liveness: the process answers (no dependency is checked)",
    dependencies=[public()],
)
async def get_liveness(request: Request) -> Liveness:
    return Liveness(status="ok", stopping=bool(getattr(request.app.state, "stopping", False)))


def readiness(engine: Engine, stopping: bool) -> Readiness:
    """Every dependency a worker needs to serve correct answers, checked now."""
    checks: dict[str, ReadinessCheck] = {}
    try:
        state = engine.store.schema_state()
        if state.up_to_date:
            checks["database"] = ReadinessCheck(ok=True, detail=f"schema {state.current}")
        else:
            checks["database"] = ReadinessCheck(
                ok=False, detail=f"schema {state.current}, needs {state.head}"
            )
    except Exception as exc:  # noqa: BLE001 - any failure means not ready, and says why
        checks["database"] = ReadinessCheck(ok=False, detail=f"unreachable: {type(exc).__name__}")
    if engine.shared is not None:
        up = engine.shared.ping()
        checks["redis"] = ReadinessCheck(
            ok=up, detail="reachable" if up else "unreachable (serving degraded, results stay correct)"
        )
    published = engine.models.published_version()
    served = engine.models.version
    if published is None:
        checks["model"] = ReadinessCheck(ok=True, detail="none trained yet (general content only)")
    elif served is None:
        checks["model"] = ReadinessCheck(ok=False, detail=f"{published} published, not loaded yet")
    else:
        checks["model"] = ReadinessCheck(ok=True, detail=f"serving {served}")
    if stopping:
        checks["shutdown"] = ReadinessCheck(ok=False, detail="shutting down")
    # Redis down degrades (correct results, fewer shared counters): still ready, but reported
    ready = all(c.ok for name, c in checks.items() if name != "redis")
    return Readiness(status="ready" if ready else "not_ready", checks=checks)


@router.get(
    "/health/ready",
    response_model=Readiness,
    summary="Readiness: database and schema, Redis, model",
    dependencies=[public()],
    responses={503: {"model": Readiness, "description": "Not ready: see which check failed."}},
)
async def get_readiness(request: Request, engine: EngineDep, lanes: LanesDep) -> Response:
    stopping = bool(getattr(request.app.state, "stopping", False))
    result = await lanes.read.run(readiness, engine, stopping)
    return JSONResponse(result.model_dump(mode="json"), status_code=200 if result.status == "ready" else 503)


async def metrics_text() -> Response:
    """Prometheus text format: this worker's metrics, or every worker's in multiprocess mode."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)
