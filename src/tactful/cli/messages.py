"""``tactful messages plan | send | run | outbox | status``: the digest planner and delivery
from the shell (``run`` is the long-running worker)."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tactful.cli.console import console, engine_for, make_settings
from tactful.domain.messages import OutboxStatus

messages_app = typer.Typer(help="Personalized digests: plan, send, inspect the outbox.", no_args_is_help=True)
out = Console()
DataDir = Annotated[Path | None, typer.Option(help="Data folder (default TACTFUL_DATA_DIR).")]
DatabaseUrl = Annotated[str | None, typer.Option(help="Database URL.")]
Now = Annotated[
    str | None,
    typer.Option(help="Act as of this ISO 8601 time with a zone, e.g. 2026-03-02T09:00:00Z (default: now)."),
]


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        console.print(f"[red]error[/red] --now: not an ISO 8601 time: {text!r}")
        raise typer.Exit(2) from None
    if when.tzinfo is None:
        console.print("[red]error[/red] --now needs a time zone (e.g. 2026-03-02T09:00:00Z)")
        raise typer.Exit(2)
    return when.astimezone(UTC)


def _at(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@messages_app.command()
def plan(
    now: Now = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and compose, write nothing.")] = False,
    user: Annotated[list[str] | None, typer.Option(help="Only this person (repeatable).")] = None,
    rows: Annotated[int, typer.Option(min=0, max=100_000, help="Most decisions to list.")] = 100,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Plan every digest due at --now into the outbox (safe to re-run, or to run twice at once)."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        report = engine.plan_messages(_now(now), user, dry_run)
    table = Table(title=f"Plan at {_at(report.now)}{' (dry run)' if dry_run else ''}")
    for column in ("person", "channel", "outcome", "period", "kind", "send at", "reason"):
        table.add_column(column)
    for d in report.decisions[:rows]:
        channel = d.channel.value if d.channel else ""
        table.add_row(d.user_id, channel, d.outcome, d.period or "", d.kind or "", _at(d.send_at), d.reason)
    out.print(table)
    if len(report.decisions) > rows:
        out.print(f"… and {len(report.decisions) - rows} more decisions (--rows to list more)")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing to do"
    out.print(f"{report.people} people checked, {report.due} due: {counts}")


@messages_app.command()
def send(
    now: Now = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Most messages to attempt.")] = 500,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One delivery pass: send the due messages (webhook / SMTP from settings.messaging)."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        report = engine.send_messages(_now(now), limit)
    table = Table(title=f"Delivery at {_at(report.now)}")
    for column in ("message", "person", "outcome", "reason"):
        table.add_column(column)
    for row in report.details:
        table.add_row(row["message_id"], row["user_id"], row["outcome"], row["reason"])
    out.print(table)
    out.print(
        f"claimed {report.claimed}: sent {report.sent}, deferred {report.deferred}, "
        f"retried {report.retried}, abandoned {report.abandoned}, cancelled {report.cancelled}"
    )


@messages_app.command()
def run(
    every: Annotated[
        float, typer.Option(min=0, max=86_400, help="Seconds between passes (a pass plans, then sends).")
    ] = 60.0,
    passes: Annotated[int, typer.Option(min=0, help="Stop after this many passes (0: until stopped).")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Most messages to attempt per pass.")] = 500,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The planner and delivery as a long-running worker: every --every seconds, plan what is
    due and send what is ready, until Ctrl-C or SIGTERM (the pass in progress finishes).
    Several workers may run at once: planning is idempotent and sends are leased."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    done = 0
    try:
        with engine_for(make_settings(data_dir, database_url)) as engine:
            while not stop.is_set():
                planned = engine.plan_messages(None, None, False)
                sent = engine.send_messages(None, limit)
                done += 1
                counts = ", ".join(f"{k} {v}" for k, v in sorted(planned.counts.items())) or "nothing due"
                out.print(
                    f"pass {done} at {_at(planned.now)}: {planned.due} due ({counts}); "
                    f"sent {sent.sent}, deferred {sent.deferred}, retried {sent.retried}, "
                    f"abandoned {sent.abandoned}, cancelled {sent.cancelled}",
                    soft_wrap=True,  # one line per pass, for logs
                )
                if passes and done >= passes:
                    break
                stop.wait(every)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    out.print(f"stopped after {done} pass{'es' if done != 1 else ''}")


@messages_app.command()
def outbox(
    user: Annotated[str | None, typer.Option(help="Only this person.")] = None,
    status: Annotated[OutboxStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The outbox: planned, sent, capped, cancelled and abandoned messages, with reasons."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        rows = engine.outbox(user, None if status is None else status.value, limit)
    table = Table(title="Outbox")
    for column in ("message", "person", "channel", "period", "kind", "status", "items", "attempts", "reason"):
        table.add_column(column)
    for m in rows:
        table.add_row(
            m.id,
            m.user_id,
            m.channel.value,
            m.period,
            m.kind,
            m.status.value,
            str(len(m.items)),
            str(m.attempts),
            m.reason or m.last_error or "",
        )
    out.print(table)


@messages_app.command()
def status(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Outbox counts by status, and the delivery transports configured."""
    with engine_for(make_settings(data_dir, database_url)) as engine:
        counts = engine.message_status()
        transports = {c.value: type(t).__name__ for c, t in engine.delivery.transports.items()}
    table = Table(title="Messages")
    table.add_column("status")
    table.add_column("messages", justify="right")
    for s in OutboxStatus:
        table.add_row(s.value, str(counts.get(s.value, 0)))
    out.print(table)
    out.print(
        "transports: " + (", ".join(f"{k} → {v}" for k, v in sorted(transports.items())) or "none configured")
    )
