"""Responses the hot routes build themselves.

A route that returns a Pydantic model has FastAPI validate it again against its
``response_model`` and encode it with the standard library's ``json``; for the models the
engine already built and validated, that is a second pass over every item for nothing.
These routes keep ``response_model`` for the OpenAPI document and send the model's own
JSON (pydantic-core's serializer) instead.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def model_json(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` as JSON without its ``None`` fields (as ``response_model_exclude_none``)."""
    return Response(model.model_dump_json(exclude_none=True), status_code, media_type="application/json")
