"""Assignment: deterministic, uniform, stable across ramp-ups, exclusive within a namespace."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tactful.experiments.assignment import allocate_slot, bucket, included, variant_for, variant_ranges
from tactful.experiments.model import BUCKETS

IDS = [f"person-{k}" for k in range(100_000)]


def test_buckets_are_uniform_over_100k_ids() -> None:
    counts = np.bincount([bucket("exp-a", u) for u in IDS], minlength=BUCKETS)
    # 10,000 buckets of ~10 each, and 100 coarse bins of ~1,000
    assert stats.chisquare(counts).pvalue > 0.001
    assert stats.chisquare(counts.reshape(100, 100).sum(axis=1)).pvalue > 0.001


def test_variant_shares_follow_weights_over_100k_ids() -> None:
    ranges = variant_ranges([1, 1, 2])
    got = np.bincount([variant_for(bucket("exp-b", u), ranges, 100.0) for u in IDS], minlength=3)
    assert stats.chisquare(got, np.array([0.25, 0.25, 0.5]) * len(IDS)).pvalue > 0.001


def test_salts_are_independent() -> None:
    a = np.array([bucket("one", u) < 5000 for u in IDS[:20_000]])
    b = np.array([bucket("two", u) < 5000 for u in IDS[:20_000]])
    table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_ramping_up_only_adds_people_and_never_moves_anyone() -> None:
    ranges = variant_ranges([1, 1])
    buckets = [bucket("exp-c", u) for u in IDS[:30_000]]
    before: dict[int, int] = {}
    for percent in (1, 5, 25, 50, 100):
        now = {k: v for k, b in enumerate(buckets) if (v := variant_for(b, ranges, percent)) is not None}
        assert all(now.get(k) == v for k, v in before.items()), "someone moved or left on a ramp-up"
        share = len(now) / len(buckets)
        assert abs(share - percent / 100) < 0.01 + 0.05 * percent / 100
        before = now


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.1, 50), min_size=2, max_size=6),
    st.lists(st.floats(0.01, 100), min_size=2, max_size=6),
    st.integers(0, BUCKETS - 1),
)
def test_any_weights_and_ramps_are_monotone(weights: list[float], percents: list[float], b: int) -> None:
    ranges = variant_ranges(weights)
    assert ranges[0][0] == 0 and ranges[-1][1] == BUCKETS
    assert all(hi == lo for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False))
    seen = None
    for p in sorted(percents):
        v = variant_for(b, ranges, p)
        if seen is not None:
            assert v == seen
        seen = v if v is not None else seen
    assert all(included(hi - lo, 100) == hi - lo for lo, hi in ranges)


def test_namespace_slots_do_not_overlap() -> None:
    a = allocate_slot(3000, [])
    b = allocate_slot(5000, [a] if a else [])
    assert a == (0, 3000) and b == (3000, 8000)
    assert allocate_slot(3000, [a, b]) is None  # only 2,000 left
    assert allocate_slot(2000, [a, b]) == (8000, 10_000)
    assert allocate_slot(3000, [b]) == (0, 3000)  # a stopped experiment's range is free again
