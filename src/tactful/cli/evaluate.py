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
    help="Offline evaluation (SPEC §5): tactful against validation-tuned and fixed peers, with intervals.",
    no_args_is_help=True,
)

COLUMNS = ("ndcg@10", "recall@20", "hr@10", "coverage@10", "diversity@10", "novelty@10")


PEER_SETS = ("all", "tuned", "fixed")


def _run(load: str, path: Path, as_json: bool, plot: Path | None, seed: int, peer_set: str = "all") -> None:
    from tactful.evaluation.dataset import read_event_log, read_movielens
    from tactful.evaluation.peers import FIXED_PEERS, PEERS, TUNED_PEERS
    from tactful.evaluation.plot import plot_comparison
    from tactful.evaluation.runner import run_evaluation

    err = Console(stderr=True)
    if peer_set not in PEER_SETS:
        err.print(f"[red]error[/red] validation_error: --peers must be one of {', '.join(PEER_SETS)}")
        raise typer.Exit(code=2)
    peers = {"all": PEERS, "tuned": TUNED_PEERS, "fixed": FIXED_PEERS}[peer_set]
    try:
        data = read_movielens(path) if load == "movielens" else read_event_log(path)
        if as_json:
            report = run_evaluation(data, peers=peers, seed=seed)
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
                    peers=peers,
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


KIND_LABELS = {"tactful": "ours", "tuned": "tuned", "fixed": "fixed"}
ACCURACY = ("ndcg@10", "recall@20", "hr@10")
BEYOND = ("coverage@10", "diversity@10", "novelty@10")
WIDE = 150  # below this many columns the metrics are split over two tables


def _print_table(report: dict[str, Any], console: Console) -> None:
    """Full model names (wrapped, never cut); every metric over its bootstrap 95 % interval."""
    split = report["split"]
    title = (
        f"{split['users']} users · {split['items']} items · {split['train']} train · "
        f"{split['test_users']} test users · {split['targets']} targets"
    )
    groups = [(*ACCURACY, *BEYOND)] if console.width >= WIDE else [ACCURACY, BEYOND]
    for number, columns in enumerate(groups):
        table = Table(
            title=title if number == 0 else None,
            caption=(
                "value over its 95 % bootstrap interval (test users resampled); peer: ours, tuned on a "
                "validation split of the training data, or a fixed setting"
            )
            if number == len(groups) - 1
            else None,
        )
        table.add_column("model", style="bold", overflow="fold", min_width=14, ratio=3)
        table.add_column("peer", overflow="fold", min_width=5)
        for name in columns:
            table.add_column(name, justify="right", overflow="fold", min_width=11)
        if number == len(groups) - 1:
            table.add_column("train_s", justify="right", min_width=7)
        for row in report["results"]:
            style = "red" if row.get("kind") == "tactful" else None
            ci = row.get("ci95", {})
            cells = [_cell(row[c], ci.get(c)) for c in columns]
            if number == len(groups) - 1:
                cells.append(f"{row['train_s']:.2f}")
            table.add_row(row["name"], KIND_LABELS.get(row.get("kind", ""), ""), *cells, style=style)
        console.print(table)
    comparison = report.get("comparison")
    if comparison and "ratio" in comparison:
        lo, hi = comparison["ratio_ci95"]
        console.print(
            f"NDCG@10, tactful / best validation-tuned peer ({comparison['peer']}): "
            f"[bold]{comparison['ratio']:.3f}×[/bold] (95 % interval {lo:.3f}–{hi:.3f}); paired Wilcoxon "
            f"p = {comparison['wilcoxon_p']:.2g}; {comparison['wins']} users better, "
            f"{comparison['losses']} worse, {comparison['ties']} tied"
        )


def _cell(value: float, interval: list[float] | None) -> str:
    digits = 2 if abs(value) >= 10 else 4
    if interval is None:
        return f"{value:.{digits}f}"
    short = digits - 1
    return f"{value:.{digits}f}\n[dim]{interval[0]:.{short}f}–{interval[1]:.{short}f}[/dim]"


@evaluate_app.command("movielens")
def movielens(
    directory: Path = typer.Argument(..., help="A MovieLens folder with ratings.csv."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON only."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a chart (.png or .svg)."),
    seed: int = typer.Option(0, help="Seed for every random choice."),
    peers: str = typer.Option("all", help="Peers to run: all, tuned (on a validation split) or fixed."),
) -> None:
    """Evaluate on a MovieLens ratings folder."""
    _run("movielens", directory, as_json, plot, seed, peers)


@evaluate_app.command("events")
def events(
    file: Path = typer.Argument(..., help="CSV, JSONL or Parquet: user_id,item_id,type,value."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON only."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a chart (.png or .svg)."),
    seed: int = typer.Option(0, help="Seed for every random choice."),
    peers: str = typer.Option("all", help="Peers to run: all, tuned (on a validation split) or fixed."),
) -> None:
    """Evaluate on an event log; without timestamps the holdout is a seeded random 20 %."""
    _run("events", file, as_json, plot, seed, peers)
