"""Shared request dependencies: the engine and validated path/query parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request

from tactful.domain.identifiers import ID_PATTERN, NAME_PATTERN
from tactful.engine import Engine


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


UserId = Annotated[str, Path(pattern=ID_PATTERN, description="The person's id.")]
ItemId = Annotated[str, Path(pattern=ID_PATTERN, description="The item's id.")]
Count = Annotated[int | None, Query(ge=1, le=200, description="How many items (default from settings).")]
Surface = Annotated[str, Query(pattern=NAME_PATTERN, description="The placement, e.g. home.")]
