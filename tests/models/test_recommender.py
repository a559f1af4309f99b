"""The default recommender: fit, score one person, fold-in of a fresh signal, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tactful.errors import Conflict, ValidationError
from tactful.models.artifact import ModelArtifact
from tactful.models.recommender import Recommender, RecommenderConfig


@pytest.fixture(scope="module")
def model(plays: sp.csr_matrix) -> Recommender:
    ids = [f"item-{i}" for i in range(plays.shape[1])]
    return Recommender.fit(plays, ids, config=RecommenderConfig(factors=8, seed=1))


def test_fit_detects_counts_and_records_metadata(model: Recommender) -> None:
    assert model.config.value_kind == "count"
    assert model.artifact.train_seconds > 0
    assert "validation_ndcg@10" in model.artifact.extra
    assert model.item_ids[5] == "item-5"


def test_recommendations_follow_the_cluster(model: Recommender) -> None:
    history = np.array([0, 6, 12, 18])  # cluster 0 (item % 6 == 0)
    best, scores = model.recommend(history, np.array([5.0, 3.0, 9.0, 1.0]), k=10)
    assert len(best) == 10 and not np.isin(best, history).any()
    assert np.all(np.diff(scores) <= 0)
    assert np.mean(best % 6 == 0) >= 0.8


def test_a_new_like_changes_the_next_scores_without_retraining(model: Recommender) -> None:
    history = np.array([0, 6, 12])
    values = np.array([4.0, 4.0, 4.0])
    before = model.score(history, values)
    liked, liked_values = np.append(history, 1), np.append(values, 10.0)  # a cluster-1 item
    after = model.score(liked, liked_values)
    assert not np.allclose(before, after)
    vector_before = model.factors.fold_in(history, values)
    assert not np.allclose(vector_before, model.factors.fold_in(liked, liked_values))
    cluster_one = np.arange(7, 240, 6)
    assert after[cluster_one].mean() > before[cluster_one].mean()


def test_an_empty_history_gets_popular_items(model: Recommender) -> None:
    scores = model.score(np.array([], dtype=int), np.array([]))
    assert int(np.argmax(scores)) == int(np.argmax(model.popularity))


def test_bad_input_is_rejected(model: Recommender) -> None:
    with pytest.raises(ValidationError):
        model.score(np.array([10_000]), np.array([1.0]))
    with pytest.raises(ValidationError):
        model.score(np.array([1, 2]), np.array([1.0]))


def test_artifact_round_trip(model: Recommender, tmp_path: Path) -> None:
    target = tmp_path / "models" / model.artifact.version
    model.save(str(target))
    loaded = Recommender.load(str(target))
    assert loaded.artifact.version == model.artifact.version
    assert loaded.config == model.config
    assert list(loaded.item_ids) == list(model.item_ids)
    history, values = np.array([3, 9, 15]), np.array([2.0, 8.0, 1.0])
    np.testing.assert_array_equal(loaded.score(history, values), model.score(history, values))
    assert not list(tmp_path.glob("models/.*")), "no staging folder is left behind"
    with pytest.raises(Conflict):
        model.save(str(target))


def test_a_corrupt_artifact_is_refused(model: Recommender, tmp_path: Path) -> None:
    target = model.artifact.save(tmp_path / "m")
    (target / "arrays.npz").write_bytes(b"garbage")
    with pytest.raises(ValidationError):
        ModelArtifact.load(target)


def test_large_catalogs_use_item_neighbours(plays: sp.csr_matrix) -> None:
    config = RecommenderConfig(max_dense_items=100, tune=False, factors=4)
    model = Recommender.fit(plays, [str(i) for i in range(plays.shape[1])], config=config)
    assert "knn_data" in model.artifact.arrays and "linear_weights" not in model.artifact.arrays
    best, _ = model.recommend(np.array([0, 6, 12]), np.array([1.0, 1.0, 1.0]), k=5)
    assert np.mean(best % 6 == 0) >= 0.8


def test_fit_is_deterministic(plays: sp.csr_matrix) -> None:
    ids = [str(i) for i in range(plays.shape[1])]
    a = Recommender.fit(plays, ids, config=RecommenderConfig(factors=4, seed=3))
    b = Recommender.fit(plays, ids, config=RecommenderConfig(factors=4, seed=3))
    for name, array in a.artifact.arrays.items():
        np.testing.assert_array_equal(array, b.artifact.arrays[name])


def test_approximate_retrieval_scores_candidates_exactly(plays: sp.csr_matrix) -> None:
    config = RecommenderConfig(
        max_dense_items=100, tune=False, factors=8, factor_weight=0.3, popularity_weight=0.1
    )
    model = Recommender.fit(plays, [str(i) for i in range(plays.shape[1])], config=config)
    history, values = np.array([0, 6, 13]), np.array([3.0, 1.0, 7.0])
    exact = model.score(history, values)
    best, scores = model.recommend(history, values, k=10, approximate=True)
    np.testing.assert_allclose(scores, exact[best], rtol=1e-4, atol=1e-4)
    top, _ = model.recommend(history, values, k=10)
    assert len(np.intersect1d(best, top)) >= 9


def test_user_vector_is_folded_in_from_the_current_history(model: Recommender) -> None:
    history, values = np.array([0, 6]), np.array([5.0, 5.0])
    before = model.user_vector(history, values)
    after = model.user_vector(np.append(history, 12), np.append(values, 5.0))
    assert before.shape == (8,) and not np.allclose(before, after)
