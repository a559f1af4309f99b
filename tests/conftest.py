"""Shared fixtures: engines on real SQLite (and PostgreSQL when asked), a manual clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tactful import Engine, Item, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.storage import SqlStore, open_store, schema

ML_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-latest-small"
PG_ADMIN_URL = os.environ.get("TACTFUL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Auth is explicitly off here so behaviour tests can call the API bare; the trust tests
    (tests/security, tests/api/test_scopes.py) build their apps with auth on."""
    return Settings(data_dir=tmp_path / "data", auth=AuthSettings(enabled=False))


@pytest.fixture
def engine(settings: Settings, clock: ManualClock) -> Iterator[Engine]:
    with Engine(settings, clock=clock) as eng:
        yield eng


def media_items() -> list[Item]:
    """A small catalog: three genres, shared creators, one item per genre/creator pair."""
    items = []
    for g, genre in enumerate(["jazz", "rock", "folk"]):
        for k in range(8):
            items.append(
                Item(
                    id=f"{genre}-{k}",
                    title=f"{genre.title()} {k}",
                    tags=[f"genre:{genre}", f"creator:{genre}-artist-{k % 3}", f"mood:m{(k + g) % 4}"],
                )
            )
    return items


@pytest.fixture
def catalog_engine(engine: Engine) -> Engine:
    engine.upsert_items(media_items())
    return engine


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"tactful_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # pragma: no cover - only without a server
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    open_store(url, migrate=True).close()  # `tactful db upgrade`: PostgreSQL is never created implicitly
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[SqlStore]:
    store = open_store(pg_url)
    tables = ", ".join(schema.metadata.tables)  # every table, so no test sees another's rows
    with store.engine.begin() as conn:  # begin(): a bare connect() would roll the TRUNCATE back
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY")
    yield store
    store.close()
