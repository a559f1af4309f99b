"""``tactful train``: fit the collaborative model from the store and publish it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tactful.cli.console import console, engine_for, make_settings

# How the figures the training reports are named on screen.
LABELS = {
    "validation_ndcg@10": "NDCG@10 on the validation split",
    "trials": "settings tried on the validation split",
    "regularization": "regularization (λ)",
}


def train(
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (default TACTFUL_DATA_DIR).")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL.")] = None,
) -> None:
    """Train the collaborative model; running servers pick it up without downtime."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("training", total=None)
            report = engine.train(lambda step: bar.update(task, description=step))
        console.print(str(report))
        for key, value in report.validation.items():
            console.print(f"  {LABELS.get(key, key)}: {value:g}")
