"""Health and version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

import tactful
from tactful.api.auth import public
from tactful.api.deps import get_engine
from tactful.api.schemas import Health
from tactful.engine import Engine

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness and schema version", dependencies=[public()])
def health(engine: Annotated[Engine, Depends(get_engine)]) -> Health:
    return Health(
        status="ok",
        version=tactful.__version__,
        schema_version=engine.store.schema_version(),
        items=engine.store.count("items"),
        catalog_version=engine.store.catalog_version(),
    )
