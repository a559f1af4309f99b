"""The model store through fsspec: a local folder and an in-memory filesystem behave alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import fsspec
import numpy as np
import pytest
import scipy.sparse as sp

from tactful import Engine, ManualClock, Settings
from tactful.config.security import AuthSettings
from tactful.demo.library import build_library, simulate_listeners
from tactful.errors import ConfigurationError, Conflict, MissingExtra, NotFound, ValidationError
from tactful.models.recommender import Recommender, RecommenderConfig, factor_artifact
from tactful.models.store import ModelStore
from tactful.services.model_registry import ModelRegistry


@pytest.fixture(scope="module")
def model(plays: sp.csr_matrix) -> Recommender:
    return Recommender.fit(
        plays, [f"i{k}" for k in range(plays.shape[1])], config=RecommenderConfig(tune=False)
    )


@pytest.fixture(params=["local", "memory"])
def models(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelStore]:
    if request.param == "local":
        yield ModelStore(tmp_path / "models")
        return
    root = f"memory://tactful-test-{uuid.uuid4().hex}/models"
    yield ModelStore(root)
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def renamed(model: Recommender, version: str) -> Recommender:
    model.artifact.version = version
    return model


def test_save_publish_load_round_trip(models: ModelStore, model: Recommender) -> None:
    assert models.current() is None and models.versions() == []
    version = "20260101T000000Z-aaaaaaaa"
    models.save(renamed(model, version).artifact)
    assert models.versions() == [version] and models.current() is None  # saved is not published
    models.publish(version)
    assert models.current() == version
    loaded = Recommender(models.load(version))
    assert loaded.artifact.version == version and loaded.config == model.config
    history, values = np.array([3, 9, 15]), np.array([2.0, 8.0, 1.0])
    np.testing.assert_array_equal(loaded.score(history, values), model.score(history, values))
    with pytest.raises(Conflict):
        models.save(model.artifact)
    with pytest.raises(NotFound):
        models.load("20990101T000000Z-nothere0")


def test_prune_keeps_the_newest_and_never_the_current(models: ModelStore, model: Recommender) -> None:
    names = [f"2026010{d}T000000Z-{d:08d}" for d in range(1, 6)]
    for name in names:
        models.save(renamed(model, name).artifact)
    models.publish(names[0])  # an operator rolled back to the oldest
    models.prune(keep=2)
    assert models.versions() == [names[0], names[3], names[4]]
    assert models.current() == names[0]


def test_a_corrupt_version_is_refused(models: ModelStore, model: Recommender) -> None:
    version = "20260102T000000Z-bbbbbbbb"
    models.save(renamed(model, version).artifact)
    models.fs.pipe_file(models.path(version, "arrays.npz"), b"garbage")
    with pytest.raises(ValidationError, match="corrupt"):
        models.load(version)


def test_registry_follows_current_and_keeps_serving_through_a_bad_version(
    models: ModelStore, model: Recommender
) -> None:
    good, bad = "20260103T000000Z-cccccccc", "20260104T000000Z-dddddddd"
    models.save(renamed(model, good).artifact)
    models.publish(good)
    registry = ModelRegistry(models, check_every=0.0)
    assert registry.version == good and registry.current is not None
    models.save(renamed(model, bad).artifact)
    models.fs.pipe_file(models.path(bad, "arrays.npz"), b"garbage")
    models.publish(bad)
    registry.reload(wait=True)
    assert registry.version == good  # the broken one is logged and skipped


def test_a_factor_only_artifact_serves_through_the_same_fold_in(models: ModelStore) -> None:
    rng = np.random.default_rng(1)
    factors = rng.normal(size=(30, 4)).astype(np.float32)
    artifact = factor_artifact(
        [f"i{k}" for k in range(30)],
        factors,
        np.arange(30, dtype=np.float32),
        RecommenderConfig(factor_alpha=2.0),
    )
    models.save(artifact)
    served = Recommender(models.load(artifact.version))
    history, values = np.array([1, 4]), np.array([2.0, 1.0])
    scores = served.score(history, values)
    vector = served.factors.fold_in(history, values.astype(np.float32))
    # standardised factor scores: same order as the raw inner products
    assert np.array_equal(np.argsort(-scores), np.argsort(-(factors @ vector)))
    with pytest.raises(ValidationError):
        factor_artifact(["a"], factors, np.zeros(1), RecommenderConfig())


def test_unknown_or_uninstalled_protocols_say_so() -> None:
    with pytest.raises(ConfigurationError):
        ModelStore("nosuchprotocol-xyz://bucket/models")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtra, match=r"tactful\[s3\]"):
            ModelStore("s3://bucket/models")


def test_an_engine_trains_to_and_serves_from_a_shared_fsspec_store(tmp_path: Path) -> None:
    """Two engines (two hosts) with separate data folders share one in-memory model store."""
    url = f"memory://tactful-test-{uuid.uuid4().hex}/models"
    clock = ManualClock()
    db = f"sqlite:///{tmp_path / 'shared.sqlite3'}"

    def settings(name: str) -> Settings:
        return Settings(
            data_dir=tmp_path / name,
            database_url=db,
            auth=AuthSettings(enabled=False),
            models={"store_url": url, "reload_check_seconds": 0.01},  # type: ignore[arg-type]
        )

    rng = np.random.default_rng(3)
    library = build_library(rng, n_items=120, n_creators=20)
    with Engine(settings("a"), clock=clock) as a, Engine(settings("b"), clock=clock) as b:
        a.upsert_items(library.items)
        a.ingest(simulate_listeners(rng, library, 60, clock.now() - timedelta(hours=1)))
        report = a.train()
        assert ModelStore(url).current() == report.version
        assert not (tmp_path / "a" / "models").exists()  # nothing went to the local folder
        b.models.reload(wait=True)
        assert b.models.version == report.version
        assert b.recommend("listener-0001", n=5).model_version == report.version
    fsspec.filesystem("memory").rm(url, recursive=True)
