"""``tactful train``: fit the collaborative model and publish it; ``export-events`` for Spark."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tactful.cli.console import console, engine_for, make_settings, progress
from tactful.models.spark_als import SparkAlsParams

# How the figures the training reports are named on screen.
LABELS = {
    "validation_ndcg@10": "NDCG@10 on the validation split",
    "trials": "settings tried on the validation split",
    "regularization": "regularization (λ)",
}
DEFAULTS = SparkAlsParams()


class TrainEngine(StrEnum):
    local = "local"
    spark = "spark"


def train(
    engine_name: Annotated[
        TrainEngine,
        typer.Option(
            "--engine",
            help="local: the default recommender, in this process, from stored profiles. "
            "spark: MLlib ALS through pyspark from `tactful export-events` output.",
        ),
    ] = TrainEngine.local,
    export: Annotated[
        str | None,
        typer.Option(help="--engine spark: the export to read (default TACTFUL_SPARK__EXPORT_URL)."),
    ] = None,
    master: Annotated[
        str | None, typer.Option(help="--engine spark: Spark master (default TACTFUL_SPARK__MASTER).")
    ] = None,
    factors: Annotated[
        int, typer.Option(min=1, max=1024, help="--engine spark: ALS rank.")
    ] = DEFAULTS.factors,
    iterations: Annotated[
        int, typer.Option(min=1, max=200, help="--engine spark: ALS iterations.")
    ] = DEFAULTS.iterations,
    regularization: Annotated[
        float, typer.Option(min=1e-9, help="--engine spark: MLlib regParam (scaled per interaction).")
    ] = DEFAULTS.regularization,
    alpha: Annotated[
        float, typer.Option(min=1e-9, help="--engine spark: confidence scale.")
    ] = DEFAULTS.alpha,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (default TACTFUL_DATA_DIR).")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL.")] = None,
) -> None:
    """Train the collaborative model; running servers pick it up without downtime."""
    settings = make_settings(data_dir, database_url)
    if master is not None:
        settings = settings.model_copy(update={"spark": settings.spark.model_copy(update={"master": master})})
    with engine_for(settings) as engine:
        columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("training", total=None)

            def step(text: str) -> None:
                bar.update(task, description=text)

            if engine_name is TrainEngine.spark:
                params = SparkAlsParams(
                    factors=factors, iterations=iterations, regularization=regularization, alpha=alpha
                )
                report = engine.train_spark(export, params, progress=step)
            else:
                report = engine.train(step)
        console.print(str(report))
        for key, value in report.validation.items():
            console.print(f"  {LABELS.get(key, key)}: {value:g}")


def export_events(
    out: Annotated[
        str | None,
        typer.Option(
            help="Folder or fsspec URL (default TACTFUL_SPARK__EXPORT_URL, else <data-dir>/exports/events)."
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing export.")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (default TACTFUL_DATA_DIR).")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL.")] = None,
) -> None:
    """Write every stored event as Parquet partitioned by day (for `train --engine spark`)."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        total = engine.store.count("events")
        with progress() as bar:
            task = bar.add_task("events", total=total or None)
            report = engine.export_events(out, overwrite, lambda n: bar.advance(task, n))
        console.print(str(report))
