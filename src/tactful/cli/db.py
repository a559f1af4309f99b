"""``tactful db``: the schema, upgraded explicitly.

Servers and every other command check the schema at start-up and refuse an outdated one
(:class:`~tactful.errors.SchemaMismatch`); only ``tactful db upgrade`` changes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tactful.cli.console import console, make_settings
from tactful.errors import TactfulError
from tactful.storage import SqlStore, mask_url, schema_message

db_app = typer.Typer(help="The database schema: status and explicit upgrades.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(help="Data folder (the SQLite file lives there).")]
DatabaseUrl = Annotated[str | None, typer.Option(help="Database URL (default TACTFUL_DATABASE_URL).")]
NEEDS_UPGRADE = 3


def _store(data_dir: Path | None, database_url: str | None) -> SqlStore:
    settings = make_settings(data_dir, database_url)
    return SqlStore(settings.resolved_database_url)


@db_app.command()
def status(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Print the database's schema revision against this tactful's; exit 3 when an upgrade is due."""
    store = _store(data_dir, database_url)
    try:
        state = store.schema_state()
    except TactfulError as exc:
        console.print(f"[red]error[/red] {exc.code}: {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    where = mask_url(store.url)
    typer.echo(f"database  {where}")
    typer.echo(f"schema    {state.current or 'none'}")
    typer.echo(f"head      {state.head}")
    if state.up_to_date:
        typer.echo("up to date")
        return
    typer.echo(schema_message(state, where))
    raise typer.Exit(NEEDS_UPGRADE if state.behind or state.empty else 2)


@db_app.command()
def upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply every pending migration (creates the schema in an empty database). Back up first."""
    store = _store(data_dir, database_url)
    try:
        before = store.schema_state()
        if not before.up_to_date and not before.behind and not before.empty:
            console.print(f"[red]refused[/red]: {schema_message(before, mask_url(store.url))}")
            raise typer.Exit(2)
        store.migrate()
        after = store.schema_version()
    except TactfulError as exc:
        console.print(f"[red]error[/red] {exc.code}: {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        store.close()
    if before.up_to_date:
        typer.echo(f"already at {after}")
    else:
        typer.echo(f"upgraded {before.current or 'empty'} -> {after} ({', '.join(before.pending)})")
