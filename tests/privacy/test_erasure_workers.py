"""Erasure is complete whatever other workers hold in their buffers.

A worker keeps the lists it served (and back-off counters) in memory and writes them a
moment later; an erasure on another worker cannot flush that buffer. These tests hold a
served list in one engine's buffer, erase the person through another engine on the same
database, then let the first engine write: nothing about the person may reach the tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tactful import Engine, Event, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.storage import open_store
from tests.conftest import media_items

PERSON_TABLES_WRITTEN_LATE = ("recommendations", "person_policy", "promotion_exposures")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def workers(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> Iterator[list[Engine]]:
    if request.param == "postgres":
        store = request.getfixturevalue("pg_store")
        url = str(store.engine.url.render_as_string(hide_password=False))
        store.close()
    else:
        url = f"sqlite:///{tmp_path}/shared.sqlite3"
    # one data folder (so one signing secret), one database, two engines: two workers
    settings = Settings(data_dir=tmp_path / "data", database_url=url, auth=AuthSettings(enabled=False))
    made = [Engine(settings, store=open_store(url), clock=clock) for _ in range(2)]
    made[0].upsert_items(media_items())
    for eng in made:
        eng.served.interval = 3600.0  # writes only when flushed: the buffer is held on purpose
        eng.served.flush()
    try:
        yield made
    finally:
        for eng in made:
            eng.close()


def _rows(engine: Engine, user_id: str) -> dict[str, int]:
    tables = engine.store.person_rows(user_id)
    return {name: len(rows) for name, rows in tables.items() if rows}


def test_rows_buffered_on_one_worker_are_not_written_after_an_erasure_on_another(
    workers: list[Engine], clock: ManualClock
) -> None:
    first, second = workers
    items = media_items()
    first.ingest([Event(user_id="x", item_id=i.id, type="like") for i in items[:6]])
    for _ in range(5):
        first.recommend("x")
        first.recommend("bystander")
    assert first.served.pending >= 10  # held in the first worker's buffer

    report = second.erase_person("x")
    assert report.erased
    first.served.flush()  # the first worker writes what it held

    assert _rows(first, "x") == {}
    assert all(len(rows) == 0 for name, rows in first.store.person_rows("x").items())
    assert len(first.store.person_rows("bystander")["recommendations"]) == 5  # others unaffected


def test_a_person_served_after_their_erasure_is_recorded_again(
    workers: list[Engine], clock: ManualClock
) -> None:
    first, second = workers
    first.recommend("x")
    second.erase_person("x")
    margin = first.settings.serving.erasure_clock_margin_seconds
    clock.advance(timedelta(seconds=margin + 1))
    rec = first.recommend("x")  # a new request, after the erasure: a new history begins
    first.served.flush()
    assert [r["id"] for r in first.store.person_rows("x")["recommendations"]] == [rec.recommendation_id]


def test_the_tombstone_does_not_name_the_person(workers: list[Engine]) -> None:
    first, second = workers
    first.recommend("alice@example.com")
    second.erase_person("alice@example.com")
    first.served.flush()
    with second.store.engine.connect() as conn:  # type: ignore[attr-defined]
        subjects = [r[0] for r in conn.exec_driver_sql("SELECT subject FROM erasures")]
    assert len(subjects) == 1 and "alice" not in subjects[0] and subjects[0].startswith("h:")
