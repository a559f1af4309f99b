"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tactful.evaluation.metrics import (
    coverage_at_k,
    evaluate_lists,
    hit_rate_at_k,
    intra_list_diversity,
    ndcg_at_k,
    novelty,
    recall_at_k,
)


def test_ndcg_binary_gains_with_ideal_over_min_targets() -> None:
    ranked = np.array([5, 1, 7, 2, 9, 0, 3, 4, 6, 8])
    # hits at ranks 2 and 4 (1-based): 1/log2(3) + 1/log2(5); ideal: 2 targets first.
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(ranked, np.array([1, 2]), 10) == pytest.approx(expected)


def test_ndcg_ideal_is_capped_at_k() -> None:
    ranked = np.arange(10)
    targets = np.arange(15)
    assert ndcg_at_k(ranked, targets, 10) == pytest.approx(1.0)
    assert ndcg_at_k(ranked, np.array([99]), 10) == 0.0
    assert ndcg_at_k(ranked, np.array([], dtype=int), 10) == 0.0


def test_recall_divides_by_min_targets_and_k() -> None:
    ranked = np.arange(20)
    assert recall_at_k(ranked, np.array([3, 50]), 20) == pytest.approx(0.5)
    assert recall_at_k(ranked, np.arange(0, 40, 2), 20) == pytest.approx(10 / 20)
    assert recall_at_k(ranked, np.arange(30), 20) == pytest.approx(1.0)


def test_hit_rate() -> None:
    ranked = np.arange(20)
    assert hit_rate_at_k(ranked, np.array([9]), 10) == 1.0
    assert hit_rate_at_k(ranked, np.array([10]), 10) == 0.0


def test_coverage_counts_distinct_items_in_top_k() -> None:
    lists = [np.array([0, 1, 2, 9]), np.array([1, 2, 3, 8])]
    assert coverage_at_k(lists, 10, k=3) == pytest.approx(4 / 10)


def test_intra_list_diversity_is_mean_jaccard_distance() -> None:
    tags = (frozenset({"a"}), frozenset({"a", "b"}), frozenset({"c"}))
    # pairs: (0,1) 1-1/2, (0,2) 1, (1,2) 1 -> mean 5/6
    assert intra_list_diversity([np.array([0, 1, 2])], tags) == pytest.approx(5 / 6)


def test_novelty_is_mean_self_information() -> None:
    item_users = np.array([50, 25, 1])
    value = novelty([np.array([0, 1])], item_users, n_users=100)
    assert value == pytest.approx((1 + 2) / 2)


def test_evaluate_lists_averages_over_users() -> None:
    lists = [np.arange(20), np.arange(20, 40)]
    targets = [np.array([0]), np.array([99])]
    report = evaluate_lists(lists, targets, 100, np.ones(100, dtype=int), 10)
    assert report.ndcg == pytest.approx(0.5)
    assert report.hit_rate == pytest.approx(0.5)
    assert report.coverage == pytest.approx(0.2)
