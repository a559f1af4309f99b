"""The user-neighbourhood component: cosine neighbours, served scores, tuning, artifact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from tactful.models.recommender import Recommender, RecommenderConfig
from tactful.models.tuning import validation_split
from tactful.models.user_knn import fit_user_neighbours
from tests.models.conftest import clustered_matrix


def _random_rows(seed: int = 0, shape: tuple[int, int] = (40, 30)) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random(shape) < 0.3, rng.random(shape) * 5 + 0.1, 0.0)
    return sp.csr_matrix(dense.astype(np.float32))


def _brute_force(rows: np.ndarray, query: np.ndarray, k: int, power: float) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1)
    sims = rows @ query / np.maximum(norms, 1e-12) / np.linalg.norm(query)
    sims[(sims <= 0) | (sims >= 1 - 1e-5)] = 0.0
    keep = np.argsort(-sims, kind="stable")[:k]
    votes = np.zeros_like(sims)
    votes[keep] = sims[keep] ** power
    return votes @ rows


def test_votes_are_the_nearest_peoples_rows_scaled_by_cosine() -> None:
    rows = _random_rows()
    model = fit_user_neighbours(rows, neighbours=5, power=2.0)
    query = _random_rows(seed=1, shape=(1, 30)).toarray()[0]
    idx = np.flatnonzero(query)
    expected = _brute_force(rows.toarray(), query, 5, 2.0)
    np.testing.assert_allclose(model.scores(idx, query[idx]), expected, rtol=1e-5, atol=1e-6)
    people, sims = model.similarities(idx, query[idx])
    dense = rows.toarray()
    cosine = dense[people] @ query / np.linalg.norm(dense[people], axis=1) / np.linalg.norm(query)
    np.testing.assert_allclose(sims, cosine, rtol=1e-5)


def test_batch_scores_agree_with_one_history_at_a_time() -> None:
    rows = _random_rows(seed=2)
    model = fit_user_neighbours(rows, neighbours=7, power=1.0)
    queries = _random_rows(seed=3, shape=(6, 30))
    batch = model.batch_scores(queries)
    for r in range(queries.shape[0]):
        lo, hi = queries.indptr[r], queries.indptr[r + 1]
        single = model.scores(queries.indices[lo:hi], queries.data[lo:hi])
        np.testing.assert_allclose(batch[r], single, rtol=1e-5, atol=1e-6)


def test_a_stored_copy_of_the_history_is_not_a_neighbour() -> None:
    rows = sp.csr_matrix(np.array([[1, 1, 0, 0], [2, 2, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1]], np.float32))
    model = fit_user_neighbours(rows, neighbours=10)
    # [1, 1, 0, 0] points the same way as people 0 and 1: only 2 and 3 vote
    items, votes = model.contributions(np.array([0, 1]), np.array([1.0, 1.0]))
    assert set(items.tolist()) == {0, 1, 2, 3}
    np.testing.assert_allclose(votes[items == 2], 0.5, rtol=1e-5)
    batch = model.batch_scores(sp.csr_matrix(np.array([[1, 1, 0, 0]], np.float32)))
    np.testing.assert_allclose(batch[0, 2], 0.5, rtol=1e-5)
    # an empty or all-negative history has no neighbours
    assert len(model.contributions(np.array([0]), np.array([-1.0]))[0]) == 0


def group_log(seed: int = 0) -> sp.csr_matrix:
    """Many small taste groups: a person's other picks are best told by who they resemble."""
    return clustered_matrix(n_users=450, n_items=600, clusters=30, seed=seed)


@pytest.fixture(scope="module")
def forced() -> tuple[Recommender, sp.csr_matrix]:
    plays = group_log()
    ids = [f"i{i}" for i in range(plays.shape[1])]
    cfg = RecommenderConfig(tune=False, factors=8, user_weight=1.0, user_neighbours=20, factor_weight=0.5)
    return Recommender.fit(plays, ids, None, cfg), plays


def test_served_scores_agree_with_batch_and_candidates(forced: tuple[Recommender, sp.csr_matrix]) -> None:
    model, plays = forced
    assert model.users is not None
    rows = np.arange(6)
    batch = model.batch_scores(plays[rows])
    for r in rows:
        lo, hi = plays.indptr[r], plays.indptr[r + 1]
        idx, vals = plays.indices[lo:hi], plays.data[lo:hi]
        best, scores = model.recommend(idx, vals, k=10, approximate=True)
        np.testing.assert_allclose(scores, batch[r][best], rtol=1e-4, atol=1e-4)
    # the component moves the scores: without it they differ
    plain = Recommender.fit(
        plays, model.item_ids, None, RecommenderConfig(tune=False, factors=8, factor_weight=0.5)
    )
    lo, hi = plays.indptr[0], plays.indptr[1]
    assert not np.allclose(plain.score(plays.indices[lo:hi], plays.data[lo:hi]), batch[0])


def test_incremental_folds_read_the_whole_history(forced: tuple[Recommender, sp.csr_matrix]) -> None:
    model, _ = forced
    idx, vals = np.arange(0, 40, 5), np.full(8, 4.0)
    first = model.fold(idx, vals)
    grown = model.fold(np.append(idx, 7), np.append(vals, 9.0), previous=first)
    assert grown.updates == first.updates + 1
    np.testing.assert_allclose(
        model.score_fold(grown), model.score(np.append(idx, 7), np.append(vals, 9.0)), rtol=1e-4, atol=1e-4
    )


def test_the_artifact_keeps_the_histories(forced: tuple[Recommender, sp.csr_matrix], tmp_path: Path) -> None:
    model, plays = forced
    loaded = Recommender.load(model.save(tmp_path / "model"))
    assert loaded.users is not None and loaded.config.user_neighbours == 20
    lo, hi = plays.indptr[3], plays.indptr[4]
    args = (plays.indices[lo:hi], plays.data[lo:hi])
    np.testing.assert_allclose(loaded.score(*args), model.score(*args), rtol=1e-6)


def test_validation_tries_the_neighbourhood_and_a_cap_skips_it() -> None:
    plays = group_log(seed=1)
    ids = [str(i) for i in range(plays.shape[1])]
    tuned = Recommender.fit(plays, ids, None, RecommenderConfig(factors=8, seed=0))
    trials = tuned.artifact.extra["trials"]
    assert sum(name.startswith("users/") for name in trials) == 9  # 6 shapes, 3 more weights
    # with many small taste groups the neighbourhood beats the item model on validation
    assert max(v for n, v in trials.items() if n.startswith("users/")) > max(
        v for n, v in trials.items() if n.startswith("ease/")
    )
    assert tuned.config.user_weight > 0
    assert tuned.users is not None and "user_indptr" in tuned.artifact.arrays
    capped = Recommender.fit(plays, ids, None, RecommenderConfig(factors=8, seed=0, max_user_rows=100))
    assert capped.users is None and "user_indptr" not in capped.artifact.arrays
    assert not any(name.startswith("users/") for name in capped.artifact.extra["trials"])


def test_validation_queries_are_skipped_as_their_own_neighbours() -> None:
    plays = group_log(seed=2)
    split = validation_split(plays, None, "count", 0)
    model = fit_user_neighbours(split.train, neighbours=5)
    queries = sp.csr_matrix(split.train[split.users[:3]])
    sims = model.batch_similarities(queries)
    np.testing.assert_allclose(sims[np.arange(3), split.users[:3]], 1.0, rtol=1e-5)
    scores = model.batch_scores(queries, sims)
    for r, u in enumerate(split.users[:3]):
        lo, hi = queries.indptr[r], queries.indptr[r + 1]
        people, _ = model._nearest(*model.similarities(queries.indices[lo:hi], queries.data[lo:hi]))
        assert u not in people
        np.testing.assert_allclose(
            scores[r], model.scores(queries.indices[lo:hi], queries.data[lo:hi]), rtol=1e-4, atol=1e-5
        )
