"""``tactful evaluate``: the SPEC §5 offline protocol on MovieLens or any event log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tactful.cli.console import print_error
from tactful.errors import TactfulError

evaluate_app = typer.Typer(
    help="Offline evaluation (SPEC §5): tactful against popularity, ALS, item-kNN and EASE.",
    no_args_is_help=True,
)

COLUMNS = ("ndcg@10", "recall@20", "hr@10", "coverage@10", "diversity@10", "novelty@10")


def _run(load: str, path: Path, as_json: bool, plot: Path | None, seed: int) -> None:
    from tactful.evaluation.dataset import read_event_log, read_movielens
    from tactful.evaluation.plot import plot_comparison
    from tactful.evaluation.runner import run_evaluation

    err = Console(stderr=True)
    try:
        data = read_movielens(path) if load == "movielens" else read_event_log(path)
        if as_json:
            report = run_evaluation(data, seed=seed)
        else:
            with Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as progress:
                task = progress.add_task("splitting", total=None)
                report = run_evaluation(
                    data,
                    seed=seed,
                    progress=lambda name: progress.update(task, description=f"training {name}"),
                )
        if plot is not None:
            plot_comparison(report, plot)
    except TactfulError as exc:
        print_error(f"{exc.code}: {exc.message}")
        raise typer.Exit(code=2) from exc
    if as_json:
        typer.echo(json.dumps(report))
        return
    _print_table(report, Console())
    if plot is not None:
        err.print(f"chart written to {plot}")


def _print_table(report: dict[str, Any], console: Console) -> None:
    split = report["split"]
    table = Table(
        title=(
            f"{split['users']} users · {split['items']} items · {split['train']} train · "
            f"{split['test_users']} test users · {split['targets']} targets"
        )
    )
    table.add_column("model", style="bold")
    for name in (*COLUMNS, "train_s"):
        table.add_column(name, justify="right")
    for row in report["results"]:
        style = "red" if row["name"] == "tactful" else None
        cells = [f"{row[c]:.4f}" for c in COLUMNS] + [f"{row['train_s']:.2f}"]
        table.add_row(row["name"], *cells, style=style)
    console.print(table)


@evaluate_app.command("movielens")
def movielens(
    directory: Path = typer.Argument(..., help="A MovieLens folder with ratings.csv."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON only."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a chart (.png or .svg)."),
    seed: int = typer.Option(0, help="Seed for every random choice."),
) -> None:
    """Evaluate on a MovieLens ratings folder."""
    _run("movielens", directory, as_json, plot, seed)


@evaluate_app.command("events")
def events(
    file: Path = typer.Argument(..., help="CSV, JSONL or Parquet: user_id,item_id,type,value."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON only."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a chart (.png or .svg)."),
    seed: int = typer.Option(0, help="Seed for every random choice."),
) -> None:
    """Evaluate on an event log; without timestamps the holdout is a seeded random 20 %."""
    _run("events", file, as_json, plot, seed)
