"""Schema upgrades are explicit: a database made by an older schema version is refused by
every server and command until `tactful db upgrade` brings it to head, keeping its rows.

Each test runs on SQLite and on PostgreSQL (a throwaway database of its own).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from typer.testing import CliRunner

from tactful import Engine, Event, Settings
from tactful.cli.main import app
from tactful.config.security import AuthSettings
from tactful.errors import SchemaMismatch
from tactful.storage import SqlStore, open_store
from tactful.storage.sql_base import MIGRATIONS

from ..conftest import PG_ADMIN_URL

REVISIONS = SqlStore.revisions()
PREVIOUS = REVISIONS[-2]
runner = CliRunner()


def build_at(url: str, revision: str) -> None:
    """The schema exactly as the code of ``revision`` created it (its migrations, nothing newer)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)
    engine.dispose()


def shape(url: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every table's columns and index names, to compare an upgraded schema with a fresh one."""
    engine = sa.create_engine(url)
    found = sa.inspect(engine)
    out = {
        name: (
            tuple(sorted(c["name"] for c in found.get_columns(name))),
            tuple(sorted(str(i["name"]) for i in found.get_indexes(name))),
        )
        for name in found.get_table_names()
    }
    engine.dispose()
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database, and a maker of more (to build a fresh schema beside it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/old.sqlite3"
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"tactful_mig_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # pragma: no cover - only without a server
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def fresh_shape(url: str, tmp_path: Path) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    if url.startswith("sqlite"):
        fresh = f"sqlite:///{tmp_path}/fresh.sqlite3"
        open_store(fresh).close()
        return shape(fresh)
    name = f"tactful_fresh_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    fresh = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        open_store(fresh, migrate=True).close()
        return shape(fresh)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_a_database_of_the_previous_version_is_refused_then_upgraded_with_its_rows(
    blank_url: str, tmp_path: Path
) -> None:
    build_at(blank_url, PREVIOUS)
    execute(  # rows as the previous version stored them
        blank_url,
        "INSERT INTO items (id, title, tags, attributes, sensitive, created_at, updated_at) "
        """VALUES ('jazz-1', 'Jazz 1', '["genre:jazz"]', '{}', '[]', 1, 1)""",
        "INSERT INTO persons (id, timezone, consent, stated, muted, positive_signals, active_days, "
        """created_at) VALUES ('ann', 'UTC', '{}', '[]', '[]', 0, '[]', 1)""",
        "INSERT INTO events (event_id, user_id, item_id, type, ts, provenance) "
        "VALUES ('e1', 'ann', 'jazz-1', 'like', 1, 'observed')",
    )
    settings = Settings(data_dir=tmp_path / "data", database_url=blank_url, auth=AuthSettings(enabled=False))

    with pytest.raises(SchemaMismatch, match="tactful db upgrade") as refused:
        open_store(blank_url)
    assert f"at schema {PREVIOUS}" in refused.value.message
    with pytest.raises(SchemaMismatch):  # every command and server worker builds an engine
        Engine(settings)
    with pytest.raises(SchemaMismatch):  # even where creating an empty schema is allowed
        open_store(blank_url, create_empty=True)
    assert SqlStore(blank_url).schema_version() == PREVIOUS  # nothing changed it implicitly

    status = runner.invoke(app, ["db", "status", "--database-url", blank_url])
    assert status.exit_code == 3 and PREVIOUS in status.output and "tactful db upgrade" in status.output
    upgraded = runner.invoke(app, ["db", "upgrade", "--database-url", blank_url])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded {PREVIOUS} -> {REVISIONS[-1]}" in upgraded.output
    assert runner.invoke(app, ["db", "status", "--database-url", blank_url]).exit_code == 0
    again = runner.invoke(app, ["db", "upgrade", "--database-url", blank_url])
    assert again.exit_code == 0 and "already at" in again.output

    assert shape(blank_url) == fresh_shape(blank_url, tmp_path)
    with Engine(settings) as engine:  # the old rows are there and served from
        assert engine.get_item("jazz-1").title == "Jazz 1"
        assert engine.person("ann").id == "ann"
        assert engine.store.count("events") == 1
        engine.ingest([Event(user_id="ann", item_id="jazz-1", type="click")])
        assert engine.recommend("ann").user_id == "ann"


@pytest.mark.parametrize("revision", REVISIONS[:-1])
def test_every_older_revision_upgrades_to_the_fresh_schema(revision: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/at_{revision}.sqlite3"
    build_at(url, revision)
    with pytest.raises(SchemaMismatch):
        open_store(url)
    open_store(url, migrate=True).close()
    assert shape(url) == fresh_shape(url, tmp_path)


def test_an_empty_database_is_created_only_where_allowed(blank_url: str) -> None:
    if blank_url.startswith("sqlite"):
        open_store(blank_url).close()  # the embedded file: a fresh data folder just works
    else:
        with pytest.raises(SchemaMismatch, match="no tactful schema yet"):
            open_store(blank_url)  # PostgreSQL is created by `tactful db upgrade`
        open_store(blank_url, create_empty=True).close()
    assert SqlStore(blank_url).schema_version() == REVISIONS[-1]


def test_a_newer_or_foreign_schema_is_never_touched(blank_url: str) -> None:
    build_at(blank_url, REVISIONS[-1])
    execute(blank_url, "UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with pytest.raises(SchemaMismatch, match="newer tactful"):
        open_store(blank_url, migrate=False)
    refused = runner.invoke(app, ["db", "upgrade", "--database-url", blank_url])
    assert refused.exit_code == 2 and "newer tactful" in refused.output
    execute(blank_url, "DROP TABLE alembic_version")
    with pytest.raises(SchemaMismatch, match="holds tables but no tactful schema"):
        open_store(blank_url, create_empty=True)
