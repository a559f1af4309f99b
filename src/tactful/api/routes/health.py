"""Health and version."""

from __future__ import annotations

from fastapi import APIRouter

import tactful
from tactful.api.auth import public
from tactful.api.deps import EngineDep, LanesDep
from tactful.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness and schema version", dependencies=[public()])
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
