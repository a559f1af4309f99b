"""CLI for operators: API keys, user tokens, retention and the audit log."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from tactful.cli.console import console, engine_for, make_settings
from tactful.config.settings import Settings
from tactful.security.keys import KeyRing

keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
DataDir = Annotated[Path | None, typer.Option(help="Data folder.")]
DatabaseUrl = Annotated[str | None, typer.Option(help="Database URL.")]


def without_auth(settings: Settings) -> Settings:
    """The same settings with authentication off, announced loudly (local development)."""
    console.print(
        "[bold yellow]warning:[/] authentication is disabled: anyone who can reach this server "
        "can read and change every person's data. Use 'tactful serve' with API keys in production."
    )
    return settings.model_copy(update={"auth": settings.auth.model_copy(update={"enabled": False})})


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. 'web-backend'.")],
    scope: Annotated[
        list[str], typer.Option(help="admin, ingest, serve or profile; repeat or comma-separate.")
    ],
    rate: Annotated[float | None, typer.Option(help="Requests per second (default from settings).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        new = KeyRing(engine.store, engine.clock).create(name, scope, rate)
        engine.audit.record(
            "key.create",
            _actor(),
            subject=f"key:{new.key.id}",
            details={"name": new.key.name, "scopes": [s.value for s in new.key.scopes]},
        )
    console.print(f"created key [bold]{new.key.id}[/] ({new.key.name}; {', '.join(new.key.scopes)})")
    console.print("store it now, it is not shown again:")
    typer.echo(new.secret)


@keys_app.command("list")
def list_keys(
    all_keys: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List keys (never their secrets)."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        keys = KeyRing(engine.store, engine.clock).list(include_revoked=all_keys)
    table = Table("id", "name", "scopes", "rate/s", "created", "revoked")
    for key in keys:
        table.add_row(
            key.id,
            key.name,
            ",".join(key.scopes),
            "" if key.rate_per_second is None else f"{key.rate_per_second:g}",
            key.created_at.isoformat(timespec="seconds"),
            "" if key.revoked_at is None else key.revoked_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (from 'keys list').")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: the next request with it gets 401, on every worker."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        key = KeyRing(engine.store, engine.clock).revoke(key_id)
        engine.audit.record("key.revoke", _actor(), subject=f"key:{key.id}", details={"name": key.name})
    console.print(f"revoked key [bold]{key.id}[/] ({key.name})")


class _IssueByDefault(TyperGroup):
    """``tactful token USER`` (the older form) means ``tactful token issue USER``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["issue", *args]
        return super().parse_args(ctx, args)


token_app = typer.Typer(
    cls=_IssueByDefault,
    help="End-user tokens: issue, revoke one, revoke all of a person's.",
    no_args_is_help=True,
)


@token_app.command("issue")
def issue_token(
    user: Annotated[str | None, typer.Argument(help="The person the token is for.")] = None,
    user_option: Annotated[
        str | None, typer.Option("--user", help="The same as the argument (kept for older scripts).")
    ] = None,
    ttl: Annotated[int | None, typer.Option(help="Lifetime in seconds (default from settings).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue a signed, expiring user token that opens only this person's own data."""
    if user is not None and user_option is not None and user != user_option:
        raise typer.BadParameter(f"two different people: {user!r} and --user {user_option!r}")
    person = user if user is not None else user_option
    if person is None:
        raise typer.BadParameter("name the person: tactful token USER")
    with engine_for(make_settings(data_dir, database_url)) as engine:
        typer.echo(engine.issue_user_token(person, ttl))


@token_app.command("revoke")
def revoke_token(
    token: Annotated[str, typer.Argument(help="The token itself (tut_…), or its id with --user.")],
    user: Annotated[str | None, typer.Option("--user", help="Whose token the id is.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke one token: the next request with it gets 401, on every worker."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        done = engine.revoke_user_token(token, user, actor=_actor())
    state = "revoked" if done.revoked else "was already revoked"
    console.print(f"token [bold]{done.token_id}[/] {state}")


@token_app.command("revoke-all")
def revoke_all_tokens(
    user: Annotated[str, typer.Argument(help="The person whose tokens to revoke.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke every token issued to the person so far; tokens issued afterwards work."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        engine.revoke_user_tokens(user, actor=_actor())
    console.print("every token issued to that person so far is revoked")


def retention(
    days: Annotated[float, typer.Option(help="Drop raw events older than this many days.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Drop old raw events; profiles, counters and trained models are kept."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        report = engine.drop_events_older_than(days, actor=_actor(), dry_run=dry_run)
    verb = "would drop" if dry_run else "dropped"
    console.print(
        f"{verb} {report.events_deleted} events older than {report.cutoff.isoformat(timespec='seconds')}; "
        f"{report.events_kept} kept"
    )


def audit(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many entries, newest first.")] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. person.erase.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the audit log as JSON lines."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        page = engine.audit.entries(limit=limit, action=action)
    for entry in page.entries:
        typer.echo(json.dumps(entry.model_dump(mode="json"), sort_keys=True))


def register(app: typer.Typer) -> None:
    """Attach the trust commands to the main CLI."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(token_app, name="token")
    app.command()(retention)
    app.command()(audit)
