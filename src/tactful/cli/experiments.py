"""``tactful experiments``: create, start, ramp, stop, evaluate and report experiments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tactful.cli.console import console, engine_for, make_settings
from tactful.experiments.analysis import ExperimentReport

experiments_app = typer.Typer(
    help="A/B tests, staged rollouts, guardrails and the holdout.", no_args_is_help=True
)
DataDir = Annotated[Path | None, typer.Option(help="Data folder.")]
DatabaseUrl = Annotated[str | None, typer.Option(help="Database URL.")]
ACTOR = "cli"
WIDE = 150
"""The report table's columns need this many characters (wider terminals use their width)."""


def _num(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x * 100:+.2f}%" if pct else f"{x:.4g}"


def report_table(report: ExperimentReport) -> Table:
    e = report.experiment
    srm = report.srm
    title = (
        f"{e.spec.name} ({e.id}): {e.status.value} at {e.percent:g}%, "
        f"{report.people} people, {report.days:.1f} days; "
        f"SRM p={srm.p_value:.3g}{' MISMATCH' if srm.mismatch else ''}; "
        f"{'healthy' if report.health.healthy else 'unhealthy: ' + '; '.join(report.health.reasons)}"
    )
    table = Table(title=title, title_justify="left")
    for col in (
        "metric",
        "variant",
        "people",
        "rate [95% CI]",
        "diff [95% CI]",
        "lift [95% CI]",
        "conf. sequence",
        "verdict",
        "by day",
    ):
        table.add_column(col)
    for m in report.metrics:
        control = m.variants[0]
        name = m.label + (" (guardrail)" if m.guardrail else "")
        table.add_row(
            name,
            control.name,
            str(control.people),
            f"{_num(control.rate)} [{_num(control.low)}, {_num(control.high)}]",
            "",
            "",
            "",
            "",
            "",
        )
        for v, c in zip(m.variants[1:], m.comparisons, strict=True):
            colour = {"worse": "red", "better": "green"}.get(c.verdict, "")
            table.add_row(
                "",
                v.name,
                str(v.people),
                f"{_num(v.rate)} [{_num(v.low)}, {_num(v.high)}]",
                f"{_num(c.diff)} [{_num(c.diff_low)}, {_num(c.diff_high)}]",
                f"{_num(c.lift, True)} [{_num(c.lift_low, True)}, {_num(c.lift_high, True)}]",
                f"[{_num(c.cs_low)}, {_num(c.cs_high)}]",
                f"[{colour}]{c.verdict}[/]" if colour else c.verdict,
                _num(c.predicted_day),
            )
    return table


@experiments_app.command("report")
def report(
    experiment_id: Annotated[
        str, typer.Argument(help="The experiment's id ('holdout' for the global holdout).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the HTML report to this file.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Per-variant rates, differences, lifts, confidence sequences, SRM and health."""
    from tactful.experiments.html import render_html

    with engine_for(make_settings(data_dir, database_url)) as engine:
        got = engine.experiments.report(experiment_id)
    if html is not None:
        html.write_text(render_html(got), encoding="utf-8")
    if as_json:
        typer.echo(got.model_dump_json())
        return
    Console(width=max(Console().width, WIDE)).print(report_table(got))
    if html is not None:
        console.print(f"HTML report written to {html}")


@experiments_app.command("create")
def create(
    spec_file: Annotated[
        Path, typer.Argument(help="JSON file with the experiment (see the API's ExperimentSpec).")
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an experiment as a draft."""
    body = json.loads(spec_file.read_text(encoding="utf-8"))
    with engine_for(make_settings(data_dir, database_url)) as engine:
        e = engine.experiments.create(body, actor=ACTOR)
    console.print(
        f"created {e.id} (draft, slot {e.slot[0]}–{e.slot[1]} of namespace {e.spec.namespace_name})"
    )


@experiments_app.command("list")
def list_all(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Every experiment with its status and exposed share."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        rows = engine.experiments.all()
    table = Table("id", "name", "status", "percent", "namespace", "reason")
    for e in rows:
        table.add_row(
            e.id, e.spec.name, e.status.value, f"{e.percent:g}%", e.spec.namespace_name, e.reason[:60]
        )
    console.print(table)


@experiments_app.command("start")
def start(experiment_id: str, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Start a draft at its first rollout step."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        e = engine.experiments.start(experiment_id, actor=ACTOR)
    console.print(f"{e.id} running at {e.percent:g}%")


@experiments_app.command("ramp")
def ramp(
    experiment_id: str,
    percent: Annotated[float, typer.Argument(min=0.01, max=100)],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Raise the exposed share by hand (a ramp only adds people)."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        e = engine.experiments.ramp(experiment_id, percent, actor=ACTOR)
    console.print(f"{e.id} at {e.percent:g}%")


@experiments_app.command("stop")
def stop(
    experiment_id: str,
    reason: Annotated[str, typer.Option(help="Why (kept with the experiment and in the audit log).")] = "",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Stop: everyone gets the base config again."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        e = engine.experiments.stop(experiment_id, reason, actor=ACTOR)
    console.print(f"{e.id} {e.status.value}")


@experiments_app.command("evaluate")
def evaluate(
    experiment_id: Annotated[
        str | None, typer.Argument(help="One experiment (default: every running one).")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Check guardrails and health now: roll back, hold, or take the due rollout step."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        decisions = (
            {experiment_id: engine.experiments.evaluate(experiment_id, actor=ACTOR)}
            if experiment_id
            else engine.experiments.tick(actor=ACTOR)
        )
    for key, d in decisions.items():
        console.print(f"{key}: {d.action} — {d.message}")
