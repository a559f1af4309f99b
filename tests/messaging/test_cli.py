"""``tactful messages plan | send | outbox | status``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tactful import Engine, Settings
from tactful.cli.main import app as cli
from tactful.domain.item import Item


def test_messages_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Engine(Settings(data_dir=data)) as engine:
        engine.upsert_items([Item(id=f"i{k}", tags=[f"genre:g{k % 3}"]) for k in range(20)])
        engine.update_message_preferences(
            "ann",
            {
                "channels": ["email"],
                "email": "ann@example.com",
                "topics": {"digest": "opted_in"},
                "cadence": {"kind": "daily"},
                "window": {"start": "09:00", "end": "10:00"},
                "quiet_hours": {"start": "09:00", "end": "09:30"},
                "timezone": "Europe/Berlin",
            },
        )
    runner = CliRunner()
    args = ["--data-dir", str(data)]
    deferred = runner.invoke(cli, ["messages", "plan", "--now", "2099-03-02T08:10:00Z", *args])
    assert deferred.exit_code == 0, deferred.output
    assert "deferred 1" in deferred.output and "quiet" in deferred.output
    dry = runner.invoke(cli, ["messages", "plan", "--now", "2099-03-02T08:40:00Z", "--dry-run", *args])
    assert "planned 1" in dry.output and "dry run" in dry.output
    planned = runner.invoke(cli, ["messages", "plan", "--now", "2099-03-02T08:40:00Z", *args])
    assert "planned 1" in planned.output
    again = runner.invoke(cli, ["messages", "plan", "--now", "2099-03-02T08:45:00Z", *args])
    assert "nothing to do" in again.output
    sent = runner.invoke(cli, ["messages", "send", "--now", "2099-03-02T08:45:00Z", *args])
    assert "no transport configured" in sent.output and "retried 1" in sent.output
    outbox = runner.invoke(cli, ["messages", "outbox", "--status", "queued", *args])
    assert "ann" in outbox.output and "queued" in outbox.output
    status = runner.invoke(cli, ["messages", "status", *args])
    assert "queued" in status.output and "none configured" in status.output
    bad = runner.invoke(cli, ["messages", "plan", "--now", "2099-03-02T08:45:00", *args])
    assert bad.exit_code == 2


def test_messages_run_is_a_worker_that_plans_and_sends_each_pass(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Engine(Settings(data_dir=data)) as engine:
        engine.upsert_items([Item(id=f"i{k}", tags=[f"genre:g{k % 3}"]) for k in range(20)])
        engine.update_message_preferences(
            "bo",
            {
                "channels": ["email"],
                "email": "bo@example.com",
                "topics": {"digest": "opted_in"},
                "cadence": {"kind": "daily"},
                "window": {"start": "00:00", "end": "23:59"},
                "timezone": "UTC",
            },
        )
    result = CliRunner().invoke(
        cli, ["messages", "run", "--every", "0", "--passes", "2", "--data-dir", str(data)]
    )
    assert result.exit_code == 0, result.output
    first, second = [line for line in result.output.splitlines() if line.startswith("pass ")]
    assert "planned 1" in first and "retried 1" in first  # no transport configured here
    assert "planned" not in second  # planning is idempotent: the digest is in the outbox once
    assert "stopped after 2 passes" in result.output
    with Engine(Settings(data_dir=data)) as engine:
        assert len(engine.outbox("bo")) == 1
