"""Reading a MovieLens directory (movies.csv, tags.csv, ratings.csv) as items and rate events."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from tactful.domain.event import Event, Provenance
from tactful.domain.identifiers import slug
from tactful.domain.item import Item
from tactful.errors import ValidationError

MAX_FREE_TAGS = 40


def _require(directory: Path, name: str) -> Path:
    path = directory / name
    if not path.is_file():
        raise ValidationError(f"{path} not found: is this a MovieLens directory?", field="dir")
    return path


def movielens_items(directory: Path) -> list[Item]:
    """Movies with ``genre:`` tags from movies.csv and ``tag:`` tags from tags.csv."""
    free: dict[str, dict[str, None]] = defaultdict(dict)
    tags_path = directory / "tags.csv"
    if tags_path.is_file():
        with tags_path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                value = slug(row["tag"])
                if value and len(free[row["movieId"]]) < MAX_FREE_TAGS:
                    free[row["movieId"]]["tag:" + value] = None
    items = []
    with _require(directory, "movies.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            genres = ["genre:" + slug(g) for g in row["genres"].split("|") if g and g != "(no genres listed)"]
            tags = list(dict.fromkeys([*genres, *free.get(row["movieId"], {})]))[:64]
            items.append(Item(id=row["movieId"], title=row["title"][:512], tags=tags))
    return items


def movielens_events(directory: Path, chunk: int = 10_000) -> Iterator[list[Event]]:
    """Ratings as explicit ``rate`` events, in file order, ``chunk`` at a time."""
    batch: list[Event] = []
    with _require(directory, "ratings.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            batch.append(
                Event.model_construct(
                    id=f"ml-{row['userId']}-{row['movieId']}",
                    user_id=row["userId"],
                    item_id=row["movieId"],
                    type="rate",
                    value=float(row["rating"]),
                    timestamp=datetime.fromtimestamp(int(row["timestamp"]), UTC),
                    provenance=Provenance.explicit,
                    surface=None,
                    recommendation_id=None,
                    context=None,
                )
            )
            if len(batch) >= chunk:
                yield batch
                batch = []
    if batch:
        yield batch


def count_ratings(directory: Path) -> int:
    with _require(directory, "ratings.csv").open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)
