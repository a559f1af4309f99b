"""Reading items and events from CSV or JSONL files, validated like API input."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from tactful.domain.event import Event
from tactful.domain.item import Item
from tactful.domain.strict import TEXT_VALUES
from tactful.errors import ValidationError

LIST_FIELDS = {"tags", "sensitive"}
M = TypeVar("M", bound=BaseModel)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise ValidationError(f"{path} not found", field="file")
    suffix = path.suffix.lower()
    with path.open(newline="", encoding="utf-8") as fh:
        if suffix in (".jsonl", ".ndjson"):
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield n, json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValidationError(f"line {n}: {exc.msg}", field=f"line {n}") from exc
        elif suffix == ".csv":
            for n, row in enumerate(csv.DictReader(fh), 2):
                yield n, _csv_row(row)
        else:
            raise ValidationError("file must end in .csv, .jsonl or .ndjson", field="file")


def _csv_row(row: dict[str, str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or value == "":
            continue
        if key in LIST_FIELDS:
            out[key] = [v for v in value.split("|") if v]
        elif key.startswith("context."):
            out.setdefault("context", {})[key.split(".", 1)[1]] = value
        elif key.startswith("attributes."):
            out.setdefault("attributes", {})[key.split(".", 1)[1]] = value
        else:
            out[key] = value
    return out


def _parse(model: type[M], path: Path, chunk: int) -> Iterator[list[M]]:
    batch: list[M] = []
    # CSV holds every value as text; JSONL is read exactly like an API body
    context = {TEXT_VALUES: path.suffix.lower() == ".csv"}
    for line, row in _rows(path):
        try:
            batch.append(model.model_validate(row, context=context))
        except PydanticError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValidationError(f"line {line}: {where}: {first['msg']}", field=where) from exc
        if len(batch) >= chunk:
            yield batch
            batch = []
    if batch:
        yield batch


def read_items(path: Path, chunk: int = 5_000) -> Iterator[list[Item]]:
    """Items from CSV (tags separated by ``|``) or JSONL."""
    return _parse(Item, path, chunk)


def read_events(path: Path, chunk: int = 10_000) -> Iterator[list[Event]]:
    """Events from CSV (``context.session`` style columns) or JSONL."""
    return _parse(Event, path, chunk)
