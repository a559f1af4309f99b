"""`tactful train --engine spark`: MLlib ALS in local mode from an event export (kept small).

One local Spark session serves the whole module (starting the JVM is most of the cost); the
data are a few dozen people and items and ALS runs a few iterations at a low rank.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tactful import Engine, Event, Item, ManualClock, Settings
from tactful.clock import to_epoch
from tactful.domain.event import Provenance
from tactful.domain.person import Consent
from tactful.errors import Conflict
from tactful.models.recommender import Recommender
from tactful.models.spark_als import SparkAlsParams, weighted_interactions
from tactful.models.store import ModelStore
from tactful.services.event_export import CONSENTS, EVENTS
from tactful.services.training import training_data

pytestmark = [pytest.mark.spark]
pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - Java 17 is part of the test machine
    pytest.skip("Spark needs a Java runtime", allow_module_level=True)

SMALL = SparkAlsParams(factors=4, iterations=3, regularization=0.05, alpha=2.0, seed=1, blocks=2)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from tactful.models.spark_als import spark_session

    session = spark_session("local[2]", conf={"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


def populate(engine: Engine, clock: ManualClock, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    engine.upsert_items([Item(id=f"i{k}", title=f"I{k}", tags=[f"genre:g{k % 3}"]) for k in range(24)])
    engine.set_consent("only-explicit", Consent(personalization=True, provenances=[Provenance.explicit]))
    engine.set_consent("opted-out", Consent(personalization=False))
    people = [f"u{n}" for n in range(20)] + ["only-explicit", "opted-out"]
    start = clock.now() - timedelta(days=45)
    events = []
    for n in range(500):
        person = people[int(rng.integers(0, len(people)))]
        home = sum(map(ord, person)) % 3
        item = f"i{(home + 3 * int(rng.integers(0, 8))) % 24}"
        kind = str(
            rng.choice(
                ["like", "play", "rate", "skip", "view", "dislike", "listen", "save", "unsave", "retract"]
            )
        )
        value = None
        if kind == "play":
            value = float(rng.integers(5, 300))
        elif kind == "rate":
            value = float(rng.integers(1, 11)) / 2
        elif kind == "listen":
            value = float(rng.integers(1, 30))
        events.append(
            Event(
                user_id=person, item_id=item, type=kind, value=value, timestamp=start + timedelta(hours=2 * n)
            )
        )
    order = rng.permutation(len(events))  # arriving out of time order: the latest statement still holds
    engine.ingest([events[int(k)] for k in order])
    engine.delete_items(["i23"])  # events on an item that left the catalog teach nothing


@pytest.fixture
def filled(engine: Engine, clock: ManualClock) -> Engine:
    populate(engine, clock)
    engine.export_events()
    return engine


def test_the_spark_values_are_the_in_process_training_input(filled: Engine, spark: Any) -> None:
    engine = filled
    root = engine.settings.resolved_export_url
    now = to_epoch(engine.clock.now())
    half_lives = dict(engine.settings.signals.half_life_days)
    items = engine.store.item_ids()
    table = weighted_interactions(
        spark, f"{root}/{EVENTS}", f"{root}/{CONSENTS}", engine.rules.rules, half_lives, now, items
    ).toArrow()
    got = {
        (u, items[i]): v
        for u, i, v in zip(
            table.column("user_id").to_pylist(),
            table.column("item").to_pylist(),
            table.column("value").to_pylist(),
            strict=True,
        )
    }
    data = training_data(engine.store, items, half_lives, now)
    coo = data.matrix.tocoo()
    names = data.user_ids
    want = {(names[r], items[c]): float(v) for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)}
    assert want and set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key
    assert not [k for k in got if k[0] == "opted-out"]
    assert not [k for k in got if k[1] == "i23"]


def test_train_on_spark_publishes_an_artifact_the_servers_load(filled: Engine, spark: Any) -> None:
    engine = filled
    report = engine.train_spark(params=SMALL, spark=spark)
    models = ModelStore(engine.settings.model_store_url)
    assert models.current() == report.version == engine.models.version
    artifact = models.load(report.version)
    assert artifact.extra["engine"] == "spark" and artifact.arrays["factor_items"].shape == (23, 4)
    assert report.interactions == artifact.extra["interactions"] > 0
    model = Recommender(artifact)
    assert model.config.factor_weight == 1.0 and not model.config.tune
    # items nobody engaged with positively have no factors; every scored item is in the catalog
    assert list(model.item_ids) == engine.store.item_ids()
    assert np.isfinite(artifact.arrays["factor_items"]).all()
    recs = engine.recommend("u3", n=5)
    assert recs.model_version == report.version and recs.items
    with Engine(engine.settings, clock=engine.clock) as other:  # another worker or host
        assert other.models.version == report.version


def test_an_export_older_than_an_erasure_is_refused(filled: Engine, spark: Any) -> None:
    filled.erase_person("u1")
    with pytest.raises(Conflict, match="export-events"):
        filled.train_spark(params=SMALL, spark=spark)
    assert filled.models.version is None  # nothing was published
    filled.export_events(overwrite=True)  # a fresh export no longer holds the person
    root = filled.settings.resolved_export_url
    people = spark.read.parquet(f"{root}/{EVENTS}").select("user_id").distinct().toArrow()
    assert "u1" not in people.column("user_id").to_pylist() and "u2" in people.column("user_id").to_pylist()


def test_cli_train_engine_spark(tmp_path: Path, clock: ManualClock, spark: Any) -> None:
    """Last in the module: the command stops the session it gets (the shared one, here)."""
    from tactful.cli.main import app
    from tactful.config.security import AuthSettings

    data_dir = tmp_path / "cli-data"
    with Engine(Settings(data_dir=data_dir, auth=AuthSettings(enabled=False)), clock=clock) as engine:
        populate(engine, clock, seed=2)
    runner = CliRunner()
    result = runner.invoke(app, ["--data-dir", str(data_dir), "export-events"])
    assert result.exit_code == 0, result.output
    args = ["--data-dir", str(data_dir), "train", "--engine", "spark", "--master", "local[2]"]
    result = runner.invoke(app, [*args, "--factors", "3", "--iterations", "2"])
    assert result.exit_code == 0, result.output
    current = ModelStore(data_dir / "models").current()
    assert current is not None and current in result.output
