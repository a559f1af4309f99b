"""The ``tactful`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tactful.cli.config import config
from tactful.cli.console import batches_with_progress, console, make_settings
from tactful.cli.evaluate import evaluate_app
from tactful.cli.importer import import_app
from tactful.cli.simulate import simulate
from tactful.cli.train import train
from tactful.cli.trust import register as register_trust
from tactful.cli.trust import without_auth

app = typer.Typer(
    help="tactful: recommendations that learn from every signal and know when to back off.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(import_app, name="import")
app.command()(simulate)
app.command()(config)
app.command()(train)
app.add_typer(evaluate_app, name="evaluate")
register_trust(app)


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
    app()


if __name__ == "__main__":
    main()
