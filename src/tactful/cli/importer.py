"""``tactful import``: items and events from CSV/JSONL, and MovieLens directories."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from tactful.cli.console import batches_with_progress, console, engine_for, make_settings
from tactful.importers.movielens import count_ratings, movielens_events, movielens_items
from tactful.importers.records import read_events, read_items

import_app = typer.Typer(help="Import a catalog and events.", no_args_is_help=True)
DataDir = Annotated[Path | None, typer.Option(help="Data folder (default TACTFUL_DATA_DIR).")]
DbUrl = Annotated[str | None, typer.Option(help="Database URL (default TACTFUL_DATABASE_URL).")]


def _lines(path: Path) -> int:
    """Records in the file, for the progress bar: non-blank lines, less a CSV's header."""
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return max(lines - 1, 0) if path.suffix.lower() == ".csv" else lines


@import_app.command("items")
def import_items(file: Path, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Upsert items from a .csv (tags separated by '|') or .jsonl file."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        done = 0
        for batch in batches_with_progress(read_items(file), _lines(file), "items"):
            done += engine.upsert_items(batch)
        console.print(f"imported {done} items")


@import_app.command("events")
def import_events(file: Path, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Ingest events from a .csv or .jsonl file (each chunk is one atomic batch)."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        accepted = dupes = 0
        for batch in batches_with_progress(read_events(file), _lines(file), "events"):
            result = engine.ingest(batch)
            accepted += result.accepted
            dupes += result.duplicates
        console.print(f"accepted {accepted} events ({dupes} duplicates skipped)")


@import_app.command("movielens")
def import_movielens(directory: Path, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Import a MovieLens directory: genres and tags.csv become tags, ratings become rate events."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        started = time.perf_counter()
        items = movielens_items(directory)
        engine.upsert_items(items)
        accepted = 0
        total = count_ratings(directory)
        for batch in batches_with_progress(movielens_events(directory), total, "ratings"):
            accepted += engine.ingest(batch).accepted
        elapsed = time.perf_counter() - started
        stats = engine.store.stats()
        console.print(
            f"imported {len(items)} items, {stats['persons']} persons, {accepted} new events "
            f"({stats['events']} stored) in {elapsed:.1f}s"
        )
