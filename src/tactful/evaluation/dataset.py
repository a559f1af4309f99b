"""Interaction logs for offline evaluation: MovieLens directories and generic event logs."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from tactful.errors import ValidationError
from tactful.extras import require

RATING_TYPES = frozenset({"rate", "rating"})
NON_INTERACTION_TYPES = frozenset(
    {"impression", "dislike", "dismiss", "skip", "unsubscribe", "complaint", "search"}
)


@dataclass(frozen=True)
class Dataset:
    """One interaction per (user, item) pair, in log order, with integer codes."""

    user_ids: npt.NDArray[np.str_]
    item_ids: npt.NDArray[np.str_]
    users: npt.NDArray[np.int32]
    items: npt.NDArray[np.int32]
    values: npt.NDArray[np.float32]
    is_rating: npt.NDArray[np.bool_]
    timestamps: npt.NDArray[np.float64] | None
    item_tags: tuple[frozenset[str], ...] = field(default=())

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def value_kind(self) -> Literal["rating", "count"]:
        """``rating`` when every interaction is a rating, else ``count``."""
        return "rating" if bool(self.is_rating.all()) else "count"


def _codes(labels: list[str]) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.int32]]:
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(x, len(index)) for x in labels), np.int32, len(labels))
    return np.array(list(index), dtype=np.str_), codes


def build_dataset(
    records: Iterable[Mapping[str, Any]], item_tags: Mapping[str, Iterable[str]] | None = None
) -> Dataset:
    """Aggregate raw events into one interaction per (user, item).

    Ratings keep the last value; other positive events sum their values (missing = 1);
    the timestamp of a pair is its first event. Negative and non-interaction types are
    dropped. Pairs keep the order of their first event.
    """
    pairs: dict[tuple[str, str], list[Any]] = {}
    tags: dict[str, set[str]] = {k: set(v) for k, v in (item_tags or {}).items()}
    has_time = True
    for line, rec in enumerate(records, start=1):
        missing = [c for c in ("user_id", "item_id") if rec.get(c) in (None, "")]
        if missing:
            raise ValidationError(f"row {line}: missing {missing[0]}", field=missing[0])
        kind = str(rec.get("type") or "interaction").strip().lower()
        item = str(rec["item_id"])
        raw_tags = rec.get("tags")
        if raw_tags:
            parts = raw_tags if isinstance(raw_tags, list) else str(raw_tags).split("|")
            tags.setdefault(item, set()).update(str(t).strip() for t in parts if str(t).strip())
        if kind in NON_INTERACTION_TYPES:
            continue
        raw_value = rec.get("value")
        try:
            value = 1.0 if raw_value in (None, "") else float(raw_value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"row {line}: value is not a number", field="value") from exc
        raw_ts = rec.get("timestamp")
        ts = _parse_time(raw_ts, line) if raw_ts not in (None, "") else None
        has_time = has_time and ts is not None
        key = (str(rec["user_id"]), item)
        rating = kind in RATING_TYPES
        entry = pairs.get(key)
        if entry is None:
            pairs[key] = [value, rating, ts]
        elif rating:
            entry[0], entry[1] = value, True
        elif not entry[1]:
            entry[0] += value
    if not pairs:
        raise ValidationError("the log holds no interactions", field="item_id")
    keys = list(pairs)
    user_ids, users = _codes([k[0] for k in keys])
    item_ids, items = _codes([k[1] for k in keys])
    vals = list(pairs.values())
    timestamps = np.array([v[2] for v in vals], dtype=np.float64) if has_time else None
    return Dataset(
        user_ids=user_ids,
        item_ids=item_ids,
        users=users,
        items=items,
        values=np.array([v[0] for v in vals], dtype=np.float32),
        is_rating=np.array([v[1] for v in vals], dtype=np.bool_),
        timestamps=timestamps,
        item_tags=tuple(frozenset(tags.get(str(i), ())) for i in item_ids),
    )


def _parse_time(raw: Any, line: int) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        pass
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ValidationError(f"row {line}: unreadable timestamp", field="timestamp") from exc


def read_movielens(directory: str | Path) -> Dataset:
    """Read ``ratings.csv`` (every rating is an interaction), genres and free tags."""
    root = Path(directory)
    ratings = root / "ratings.csv"
    if not ratings.is_file():
        raise ValidationError(f"{ratings} not found", field="path")
    tags: dict[str, set[str]] = {}
    movies = root / "movies.csv"
    if movies.is_file():
        with movies.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                genres = row.get("genres") or ""
                tags[row["movieId"]] = {
                    f"genre:{g.strip().lower()}" for g in genres.split("|") if g and g != "(no genres listed)"
                }
    free = root / "tags.csv"
    if free.is_file():
        with free.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                tags.setdefault(row["movieId"], set()).add(f"tag:{row['tag'].strip().lower()}")
    with ratings.open(newline="", encoding="utf-8") as fh:
        records = (
            {
                "user_id": r["userId"],
                "item_id": r["movieId"],
                "type": "rate",
                "value": r["rating"],
                "timestamp": r["timestamp"],
            }
            for r in csv.DictReader(fh)
        )
        return build_dataset(records, tags)


def read_event_log(path: str | Path) -> Dataset:
    """Read a CSV, JSONL or Parquet log with ``user_id,item_id,type,value[,timestamp,tags]``."""
    file = Path(path)
    if not file.is_file():
        raise ValidationError(f"{file} not found", field="path")
    suffix = file.suffix.lower()
    if suffix == ".parquet":
        pq = require("pyarrow.parquet", "parquet", "reading a Parquet event log")
        table = pq.read_table(file)
        _check_columns(table.column_names)
        return build_dataset(table.to_pylist())
    if suffix in (".jsonl", ".ndjson", ".json"):
        with file.open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        _check_columns(set().union(*(r.keys() for r in rows)) if rows else set())
        return build_dataset(rows)
    with file.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        _check_columns(reader.fieldnames or [])
        return build_dataset(reader)


def _check_columns(columns: Iterable[str]) -> None:
    present = set(columns)
    for name in ("user_id", "item_id"):
        if name not in present:
            raise ValidationError(f"the log has no {name} column", field=name)
