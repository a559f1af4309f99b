"""Shared request dependencies: the engine, its thread pools, and validated path/query parameters.

The dependencies are ``async`` so FastAPI resolves them on the event loop instead of sending
each to a worker thread of its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from tactful.api.lanes import Lanes
from tactful.domain.identifiers import ID_PATTERN, NAME_PATTERN
from tactful.engine import Engine


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_lanes(request: Request) -> Lanes:
    lanes: Lanes = request.app.state.lanes
    return lanes


EngineDep = Annotated[Engine, Depends(get_engine)]
LanesDep = Annotated[Lanes, Depends(get_lanes)]
UserId = Annotated[str, Path(pattern=ID_PATTERN, description="The person's id.")]
ItemId = Annotated[str, Path(pattern=ID_PATTERN, description="The item's id.")]
Count = Annotated[int | None, Query(ge=1, le=200, description="How many items (default from settings).")]
Surface = Annotated[str, Query(pattern=NAME_PATTERN, description="The placement, e.g. home.")]
