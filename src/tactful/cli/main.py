"""The ``tactful`` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tactful.cli.config import config
from tactful.cli.console import batches_with_progress, console, make_settings, print_error
from tactful.cli.db import db_app
from tactful.cli.evaluate import evaluate_app
from tactful.cli.experiments import experiments_app
from tactful.cli.importer import import_app
from tactful.cli.messages import messages_app
from tactful.cli.simulate import simulate
from tactful.cli.train import export_events, train
from tactful.cli.trust import register as register_trust
from tactful.cli.trust import without_auth

app = typer.Typer(
    help="tactful: recommendations that learn from every signal and know when to back off.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(import_app, name="import")
app.add_typer(db_app, name="db")
app.command()(simulate)
app.command()(config)
app.command()(train)
app.command("export-events")(export_events)
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(messages_app, name="messages")
app.add_typer(experiments_app, name="experiments")
register_trust(app)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tactful")
    except PackageNotFoundError:  # running from a source tree that was never installed
        from tactful import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tactful {_version()}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Data folder for every command (SQLite file, models, exports); same as TACTFUL_DATA_DIR.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """tactful: recommendations that learn from every signal and know when to back off."""
    if data_dir is None:
        return
    # One place for the whole invocation, worker processes of `serve` included; a command's
    # own --data-dir still wins. Restored afterwards so in-process callers see no leak.
    previous = os.environ.get("TACTFUL_DATA_DIR")
    os.environ["TACTFUL_DATA_DIR"] = str(data_dir)

    def restore() -> None:
        if previous is None:
            os.environ.pop("TACTFUL_DATA_DIR", None)
        else:
            os.environ["TACTFUL_DATA_DIR"] = previous

    ctx.call_on_close(restore)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default settings.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default settings.port).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder.")] = None,
    database_url: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Local development only: serve without API keys.")
    ] = False,
) -> None:
    """Serve the HTTP API and pages (API keys required unless auth is disabled)."""
    from tactful.cli.server import run_server

    settings = make_settings(data_dir, database_url)
    if no_auth:
        settings = without_auth(settings)
    run_server(settings, host or settings.host, port or settings.port, workers)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (default ./tactful-data).")] = None,
    people: Annotated[int, typer.Option(min=10, max=100_000, help="Simulated people.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Build the demo data and exit.")] = False,
) -> None:
    """Build a synthetic media library with simulated people, train, and serve it."""
    from tactful.demo.builder import build_demo

    settings = without_auth(make_settings(data_dir, None))
    settings = settings.model_copy(update={"web": settings.web.model_copy(update={"demo": True})})
    summary = build_demo(
        settings, people=people, seed=seed, progress=batches_with_progress, say=console.print
    )
    console.print(summary)
    if no_serve:
        return
    from tactful.cli.server import run_server

    console.print(f"[bold green]open http://{host}:{port}/[/] (API docs at /docs)")
    run_server(settings, host, port, 1)


def main() -> None:
    from tactful.errors import MissingExtra

    try:
        app()
    except MissingExtra as exc:  # an optional part that is not installed: one line, no traceback
        print_error(exc.message)
        sys.exit(2)


if __name__ == "__main__":
    main()
