"""README commands as written: `tactful token USER`, `tactful train` wording, the serve summary."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tactful import Engine, Event, Settings
from tactful.cli.main import app as cli
from tactful.cli.server import mask_password, startup_summary
from tests.conftest import media_items


def test_token_takes_the_person_positionally_or_with_user(tmp_path: Path) -> None:
    data = str(tmp_path / "d")
    runner = CliRunner()
    for args in (["token", "u1"], ["token", "--user", "u1"], ["token", "u1", "--user", "u1"]):
        result = runner.invoke(cli, [*args, "--data-dir", data])
        assert result.exit_code == 0, result.output
        assert result.output.strip().startswith("tut_")
    assert runner.invoke(cli, ["token", "--data-dir", data]).exit_code != 0
    assert runner.invoke(cli, ["token", "u1", "--user", "u2", "--data-dir", data]).exit_code != 0


def test_train_names_what_it_reports_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    with Engine(settings) as engine:
        engine.upsert_items(media_items())
        engine.ingest(
            [
                Event(user_id=f"p{u}", item_id=item.id, type="like")
                for u in range(30)
                for item in media_items()[u % 5 :: 4]
            ]
        )
    result = CliRunner().invoke(cli, ["train", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "validation validation" not in result.output


def test_the_serve_summary_masks_the_password_and_names_the_model(tmp_path: Path) -> None:
    assert mask_password("postgresql+psycopg://app:s3cr%40t@db:5432/t") == "postgresql+psycopg://app:***@db:5432/t"
    assert mask_password("sqlite:////tmp/x.sqlite3") == "sqlite:////tmp/x.sqlite3"
    with Engine(Settings(data_dir=tmp_path / "d")) as engine:
        text = "\n".join(startup_summary(engine, "127.0.0.1", 8123, 1))
    assert str((tmp_path / "d").resolve()) in text and "sqlite:///" in text
    assert "no model yet" in text and "http://127.0.0.1:8123/docs" in text and "auth          on" in text
