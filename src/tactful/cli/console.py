"""Shared console helpers: engine construction, progress bars, error display."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tactful.config.settings import Settings
from tactful.engine import Engine
from tactful.errors import TactfulError

console = Console(stderr=True)
T = TypeVar("T")


def make_settings(data_dir: Path | None = None, database_url: str | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if database_url is not None:
        overrides["database_url"] = database_url
    return Settings(**overrides)  # type: ignore[arg-type]


def print_error(text: str) -> None:
    """One error line on stderr: never wrapped, and brackets (``tactful[parquet]``) kept as typed."""
    console.print(f"[red]error[/red] {escape(text)}", soft_wrap=True)


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@contextmanager
def engine_for(settings: Settings) -> Iterator[Engine]:
    """An engine on the configured store; tactful errors become a clean exit 2."""
    try:
        with Engine(settings) as engine:
            yield engine
    except TactfulError as exc:
        field = f" ({exc.field})" if exc.field else ""
        print_error(f"{exc.code}{field}: {exc.message}")
        raise typer.Exit(2) from exc


def batches_with_progress(batches: Iterable[list[T]], total: int, label: str) -> Iterator[list[T]]:
    with progress() as bar:
        task = bar.add_task(label, total=total or None)
        for batch in batches:
            yield batch
            bar.advance(task, len(batch))
