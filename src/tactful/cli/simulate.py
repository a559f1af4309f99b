"""``tactful simulate``: the respect benchmark, policies on versus off, on a seeded population."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tactful.cli.console import console


def simulate(
    people: Annotated[int, typer.Option(min=5, max=5000, help="Simulated people.")] = 64,
    weeks: Annotated[int, typer.Option(min=2, max=52, help="Simulated weeks.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed (population and behaviour).")] = 7,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {policies_on, policies_off} as JSON and nothing else.")
    ] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw the comparison to this PNG file.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=2, help="Run the two engines in parallel (2).")] = 2,
    experiment: Annotated[
        bool,
        typer.Option(
            "--experiment",
            help="Run one engine with policies on and off as two variants of a real experiment; "
            "print its report beside each variant's respect figures (--html writes the report page).",
        ),
    ] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="With --experiment: the HTML report file.")
    ] = None,
) -> None:
    """Run a synthetic population through the engine with policies on and off, and compare."""
    from tactful.simulation.report import plot as draw
    from tactful.simulation.report import table
    from tactful.simulation.runner import run_simulation

    if experiment:
        _experiment(people, weeks, seed, as_json, html)
        return

    if not as_json:
        console.print(f"simulating {people} people for {weeks} weeks (seed {seed}), policies on and off…")
    result = run_simulation(people=people, weeks=weeks, seed=seed, workers=workers)
    if plot is not None:
        draw(result, plot)
        if not as_json:
            console.print(f"plot written to {plot}")
    if as_json:
        typer.echo(json.dumps(result))
        return
    Console().print(table(result))


def _experiment(people: int, weeks: int, seed: int, as_json: bool, html: Path | None) -> None:
    from tactful.cli.experiments import WIDE, report_table
    from tactful.experiments.html import render_html
    from tactful.simulation.experiment import run_experiment
    from tactful.simulation.report import table

    if not as_json:
        console.print(f"simulating {people} people for {weeks} weeks (seed {seed}) as one experiment…")
    run = run_experiment(people=people, weeks=weeks, seed=seed)
    if html is not None:
        html.write_text(render_html(run.report), encoding="utf-8")
    if as_json:
        typer.echo(
            json.dumps(
                {"people": run.people, "respect": run.respect, "report": run.report.model_dump(mode="json")}
            )
        )
        return
    Console(width=max(Console().width, WIDE)).print(report_table(run.report))
    Console().print(table(run.respect))
    if html is not None:
        console.print(f"HTML report written to {html}")
