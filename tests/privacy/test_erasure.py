"""Erasure removes a person from every table, counter and artifact (P15), fast, audited by hash."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sqlalchemy import inspect, select

from tactful import Engine, Event, ManualClock, Person, Settings
from tactful.models.artifact import ModelArtifact
from tactful.models.recommender import Recommender, RecommenderConfig
from tactful.privacy.artifacts import files_mentioning
from tactful.signals.profile import decay
from tactful.storage import SqlStore
from tactful.storage import schema as t
from tactful.storage.sql_privacy import person_column
from tests.conftest import media_items

TARGET = "erase-me-3f9c"
TYPES = ["click", "like", "view", "play", "skip", "dislike", "save", "purchase", "impression"]


def crowd_events(clock: ManualClock, with_target: bool, n_target: int = 60) -> list[Event]:
    items = [i.id for i in media_items()]
    start = clock.now() - timedelta(days=20)
    rng = np.random.default_rng(3)
    people = [f"p{k}" for k in range(12)] + [TARGET]
    out = []
    for n in range(600 + n_target):
        who = people[n % len(people)] if n < 600 else TARGET
        event = Event(
            id=f"e{n}-{who}",
            user_id=who,
            item_id=items[int(rng.integers(len(items)))],
            type=TYPES[int(rng.integers(len(TYPES)))],
            value=float(rng.integers(5, 300)),
            timestamp=start + timedelta(hours=int(rng.integers(0, 480))),
        )
        if with_target or who != TARGET:  # same random draws either way
            out.append(event)
    return out


def rows_mentioning(store: SqlStore, needle: str) -> dict[str, int]:
    """Every table in the database (not just the ones the code knows), every column."""
    found: dict[str, int] = {}
    with store.engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            for row in conn.exec_driver_sql(f'SELECT * FROM "{name}"'):
                if any(needle in str(value) for value in row):
                    found[name] = found.get(name, 0) + 1
    return found


def save_artifacts(model_dir: Path, users: list[str]) -> None:
    """A real trained recommender, plus an artifact that does keep per-user factors."""
    items = [i.id for i in media_items()]
    rng = np.random.default_rng(0)
    matrix = sp.random(len(users), len(items), density=0.4, random_state=1, format="csr") * 5
    Recommender.fit(matrix, items, config=RecommenderConfig(tune=False, factors=4, factor_iterations=2)).save(
        str(model_dir / "recommender" / "v1")
    )
    ModelArtifact(
        item_ids=np.array(items),
        arrays={
            "user_ids": np.array(users),
            "user_factors": rng.normal(size=(len(users), 4)).astype(np.float32),
            "item_factors": rng.normal(size=(len(items), 4)).astype(np.float32),
        },
        params={"kind": "factors"},
    ).save(model_dir / "factors" / "v1")


def _populate(engine: Engine, clock: ManualClock) -> None:
    engine.upsert_items(media_items())
    engine.save_person(Person(id=TARGET, timezone="Europe/Paris", muted_topics=["genre:folk"]))
    engine.ingest(crowd_events(clock, with_target=True))
    engine.recommend(TARGET, n=5)
    engine.recommend("p1", n=5)
    engine.profile(TARGET)
    engine.export_person(TARGET)
    save_artifacts(engine.settings.model_dir, [f"p{k}" for k in range(12)] + [TARGET])


def _check_erased(engine: Engine) -> None:
    assert rows_mentioning(engine.store, TARGET) == {}
    assert files_mentioning(engine.settings.model_dir, TARGET) == []


def test_erasure_leaves_no_trace_and_counters_as_if_never_there(engine: Engine, clock: ManualClock) -> None:
    _populate(engine, clock)
    assert set(rows_mentioning(engine.store, TARGET)) >= {"persons", "events", "interests", "recommendations"}
    assert files_mentioning(engine.settings.model_dir, TARGET) == [
        engine.settings.model_dir / "factors" / "v1" / "arrays.npz"
    ]
    others_before = engine.export_person("p1").tables

    report = engine.erase_person(TARGET, actor="test")
    theirs = sum(e.user_id == TARGET for e in crowd_events(clock, with_target=True))
    assert report.erased and report.rows["events"] == theirs and report.rows["persons"] == 1
    assert report.artifact_files == 1 and report.counters_adjusted > 0
    _check_erased(engine)

    # the factors artifact still loads (checksum refreshed) and kept everyone else
    kept = ModelArtifact.load(engine.settings.model_dir / "factors" / "v1")
    assert list(kept.arrays["user_ids"]) == [f"p{k}" for k in range(12)]
    assert kept.arrays["user_factors"].shape == (12, 4)
    Recommender.load(str(engine.settings.model_dir / "recommender" / "v1"))

    # counters equal those of a world where the person never existed
    with Engine(Settings(data_dir=engine.settings.data_dir / "twin"), clock=clock) as twin:
        twin.upsert_items(media_items())
        twin.ingest(crowd_events(clock, with_target=False))
        now = 2e9
        ours = {s.item_id: s for s in engine.store.load_all_item_stats()}
        theirs = {s.item_id: s for s in twin.store.load_all_item_stats()}
        assert set(ours) == set(theirs)
        hl = engine.settings.scoring.trending_half_life_days
        for item, stat in theirs.items():
            assert ours[item].interactions == pytest.approx(stat.interactions)
            assert decay(ours[item].trend, ours[item].trend_ts, now, hl) == pytest.approx(
                decay(stat.trend, stat.trend_ts, now, hl), rel=1e-9, abs=1e-12
            )
        assert engine.popular(24) == twin.popular(24)

    # other people are untouched, and the person is simply new again
    after = engine.export_person("p1").tables
    assert after["events"] == others_before["events"] and after["interests"] == others_before["interests"]
    assert engine.profile(TARGET).positive_signals == 0
    assert engine.person(TARGET) == Person(id=TARGET)


def test_erasure_is_audited_without_the_id(engine: Engine, clock: ManualClock) -> None:
    _populate(engine, clock)
    engine.erase_person(TARGET, actor="privacy-officer")
    page = engine.audit.entries(action="person.erase")
    entry = page.entries[0]
    assert entry.actor == "privacy-officer" and entry.details["rows"]["events"] > 60
    assert entry.subject == engine.signer.subject_hash(TARGET) and TARGET not in entry.subject
    exports = engine.audit.entries(action="person.export").entries
    assert exports and all(e.subject == entry.subject for e in exports)
    assert TARGET not in repr(engine.audit.entries(limit=1000))
    again = engine.erase_person(TARGET)  # idempotent
    assert not again.erased and sum(again.rows.values()) == 0


def test_every_table_with_a_person_column_is_listed() -> None:
    """A new per-person table must join PERSON_TABLES, or export and erasure would miss it."""
    keyed = {
        name
        for name, table in t.metadata.tables.items()
        if {"user_id", "person_id"} & set(table.c.keys()) or name == "persons"
    }
    assert keyed == set(t.PERSON_TABLES)
    for name in t.PERSON_TABLES:
        person_column(t.metadata.tables[name])


def _ten_thousand(engine: Engine, clock: ManualClock) -> None:
    engine.upsert_items(media_items())
    items = [i.id for i in media_items()]
    start = clock.now() - timedelta(days=30)
    events = [
        Event(
            user_id=TARGET,
            item_id=items[n % len(items)],
            type=TYPES[n % len(TYPES)],
            value=float(n % 200),
            timestamp=start + timedelta(minutes=4 * n),
        )
        for n in range(10_000)
    ]
    engine.ingest(events)
    for n in range(5):
        engine.recommend(TARGET, n=10)
        engine.ingest([Event(user_id=f"other{n}", item_id=items[n], type="like")])


def _timed_erase(engine: Engine) -> float:
    started = time.perf_counter()
    report = engine.erase_person(TARGET)
    took = time.perf_counter() - started
    assert report.rows["events"] == 10_000
    return took


@pytest.mark.slow
def test_erasing_10k_events_takes_under_a_second_sqlite(engine: Engine, clock: ManualClock) -> None:
    _ten_thousand(engine, clock)
    took = _timed_erase(engine)
    _check_erased(engine)
    assert took < 1.0, f"erasure took {took:.3f}s"


@pytest.mark.postgres
@pytest.mark.slow
def test_erasing_10k_events_takes_under_a_second_postgres(
    pg_store: SqlStore, settings: Settings, clock: ManualClock
) -> None:
    with Engine(settings, store=pg_store, clock=clock) as engine:
        _ten_thousand(engine, clock)
        took = _timed_erase(engine)
        assert rows_mentioning(pg_store, TARGET) == {}
        with pg_store.engine.connect() as conn:
            assert conn.execute(select(t.item_stats.c.interactions).limit(1)).first() is not None
    assert took < 1.0, f"erasure took {took:.3f}s"


def database_files(engine: Engine) -> dict[str, bytes]:
    """The raw bytes of the SQLite database and its -wal and -shm files (those that exist)."""
    path = Path(engine.settings.resolved_database_url.split("///", 1)[-1])
    return {p.name: p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()}


def test_erasure_leaves_no_copy_of_the_id_in_the_database_files(engine: Engine, clock: ManualClock) -> None:
    _populate(engine, clock)
    for n in range(20):  # many rewrites of the person's pages: old images pile up in the log
        engine.ingest([Event(user_id=TARGET, item_id=f"rock-{n % 8}", type="like")])
        engine.mute_topic(TARGET, f"mood:m{n % 4}")
    needle = TARGET.encode()
    assert any(needle in raw for raw in database_files(engine).values())
    report = engine.erase_person(TARGET)
    assert report.database_files_scrubbed
    found = {name: raw.count(needle) for name, raw in database_files(engine).items() if needle in raw}
    assert found == {}
    engine.recommend("p1", n=5)  # the store works on as before
    assert engine.profile("p1").positive_signals > 0


def test_a_model_trained_while_an_erasure_commits_is_not_published_with_them(
    engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.upsert_items(media_items())
    engine.ingest(crowd_events(clock, with_target=True))
    people = len({e.user_id for e in crowd_events(clock, with_target=True)})
    fit = Recommender.fit
    seen: list[int] = []

    def fit_then_erase(matrix: sp.csr_matrix, *args: object, **kwargs: object) -> Recommender:
        seen.append(matrix.shape[0])
        model = fit(matrix, *args, **kwargs)  # type: ignore[arg-type]
        if len(seen) == 1:  # between reading the training input and publishing the model
            engine.erase_person(TARGET)
        return model

    monkeypatch.setattr(Recommender, "fit", staticmethod(fit_then_erase))
    report = engine.train()
    assert seen[0] == people and report.attempts == 2 and report.people == people - 1
    assert engine.models.version == report.version
    versions = [p.name for p in engine.settings.model_dir.iterdir() if p.is_dir()]
    assert versions == [report.version]  # the model trained with them was never kept
