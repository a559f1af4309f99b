"""Kept folds: applying only what changed gives what folding the whole history gives."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tactful.models.history_fold import REFRESH_UPDATES, HistoryFold
from tactful.models.recommender import Recommender, RecommenderConfig

N_ITEMS = 240


@pytest.fixture(scope="module")
def blended(plays: sp.csr_matrix) -> Recommender:
    """Item model, factor part and popularity all in play, so every sum is exercised."""
    ids = [f"item-{i}" for i in range(plays.shape[1])]
    config = RecommenderConfig(factors=8, seed=1, tune=False, factor_weight=0.4, popularity_weight=0.1)
    return Recommender.fit(plays, ids, config=config)


def assert_same_sums(kept: HistoryFold, fresh: HistoryFold) -> None:
    assert kept.items.tolist() == fresh.items.tolist()
    assert np.array_equal(kept.support, fresh.support)
    assert np.allclose(kept.part, fresh.part, rtol=1e-4, atol=1e-5)
    assert kept.gram is not None and fresh.gram is not None and kept.rhs is not None and fresh.rhs is not None
    assert np.allclose(kept.gram, fresh.gram, rtol=1e-8, atol=1e-8)
    assert np.allclose(kept.rhs, fresh.rhs, rtol=1e-8, atol=1e-8)


# one step of a person's history: set an item's value (0 keeps it with no weight), or drop it
steps = st.lists(
    st.tuples(st.integers(0, N_ITEMS - 1), st.one_of(st.none(), st.floats(0.0, 40.0))),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.dictionaries(st.integers(0, N_ITEMS - 1), st.floats(0.5, 40.0), min_size=1, max_size=60),
    changes=st.lists(steps, min_size=1, max_size=5),
)
def test_incremental_folds_equal_full_folds(
    blended: Recommender, start: dict[int, float], changes: list[list[tuple[int, float | None]]]
) -> None:
    history = dict(start)
    kept = blended.fold(np.array(list(history)), np.array(list(history.values())))
    for step in changes:
        for item, value in step:
            if value is None:
                history.pop(item, None)
            else:
                history[item] = value
        if not history:
            continue
        items, values = np.array(list(history)), np.array(list(history.values()))
        kept = blended.fold(items, values, previous=kept)
        fresh = blended.fold(items, values)
        assert_same_sums(kept, fresh)
        assert np.allclose(blended.score_fold(kept), blended.score(items, values), rtol=1e-4, atol=1e-4)


def test_one_new_like_is_applied_alone_and_moves_the_scores(blended: Recommender) -> None:
    items = np.arange(0, 240, 6)[:40]  # a long cluster-0 history
    values = np.full(items.size, 5.0)
    first = blended.fold(items, values)
    liked = np.append(items, 7)
    second = blended.fold(liked, np.append(values, 30.0), previous=first)
    assert second.updates == 1  # applied incrementally, not refolded
    assert_same_sums(second, blended.fold(liked, np.append(values, 30.0)))
    assert blended.score_fold(second)[7 + 6] > blended.score_fold(first)[7 + 6]  # cluster 1 rises


def test_an_unchanged_history_reuses_the_fold(blended: Recommender) -> None:
    items, values = np.arange(50), np.full(50, 3.0)
    first = blended.fold(items, values)
    assert blended.fold(items[::-1], values, previous=first) is first


def test_weights_within_the_tolerance_keep_their_sums(blended: Recommender) -> None:
    items, values = np.arange(50), np.full(50, 3.0)
    first = blended.fold(items, values)
    decayed = values * 0.9999  # a little decay: below a 1e-3 tolerance, applied at 0
    assert blended.fold(items, decayed, previous=first, tolerance=1e-3) is first
    exact = blended.fold(items, decayed, previous=first, tolerance=0.0)
    assert exact is not first
    assert_same_sums(exact, blended.fold(items, decayed))


def test_folds_are_recomputed_after_many_steps_and_for_another_model(
    blended: Recommender, plays: sp.csr_matrix
) -> None:
    items, values = np.arange(40), np.full(40, 2.0)
    fold = blended.fold(items, values)
    for step in range(REFRESH_UPDATES):
        values = values.copy()
        values[step % 40] += 1.0
        fold = blended.fold(items, values, previous=fold)
    assert fold.updates == REFRESH_UPDATES
    values[0] += 1.0
    assert blended.fold(items, values, previous=fold).updates == 0  # summed afresh
    other = Recommender.fit(plays, [f"item-{i}" for i in range(N_ITEMS)], config=RecommenderConfig(factors=4))
    assert other.fold(items, values, previous=fold).owner == id(other)


def test_a_history_that_mostly_changed_is_summed_afresh(blended: Recommender) -> None:
    first = blended.fold(np.arange(40), np.full(40, 2.0))
    changed = blended.fold(np.arange(40), np.full(40, 5.0), previous=first)
    assert changed.updates == 0
    assert_same_sums(changed, blended.fold(np.arange(40), np.full(40, 5.0)))
