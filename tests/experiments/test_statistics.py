"""The pure statistics: delta-method rates, SRM, CUPED and the anytime-valid sequential test.

The A/A and power simulations run thousands of seeded experiments at once through the
same vectorised core (:func:`compare_moments`) that :func:`compare` uses for reports.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tactful.statistics import (
    compare,
    cuped_adjust,
    mixture_rho,
    people_to_detect,
    ratio_estimate,
    sample_ratio_check,
)
from tactful.statistics.estimates import compare_moments, linearize
from tactful.statistics.sequential import cs_multiplier

ALPHA = 0.05
SIMS = 1000
DAYS = 28
PER_DAY = 1000  # new people per arm per simulated day
BASE_RATE = 0.10


def _daily_peeks(rate_b: float, seed: int, sequential: bool = True) -> np.ndarray:
    """For SIMS seeded experiments: did any daily look reject? (Bernoulli conversion per person.)"""
    rng = np.random.default_rng(seed)
    succ_a = rng.binomial(PER_DAY, BASE_RATE, size=(SIMS, DAYS)).cumsum(axis=1)
    succ_b = rng.binomial(PER_DAY, rate_b, size=(SIMS, DAYS)).cumsum(axis=1)
    n = PER_DAY * np.arange(1, DAYS + 1)[None, :] * np.ones((SIMS, 1))
    pa, pb = succ_a / n, succ_b / n
    va, vb = pa * (1 - pa) * n / (n - 1), pb * (1 - pb) * n / (n - 1)
    rho = mixture_rho(ALPHA, 2 * PER_DAY * DAYS)
    f = compare_moments(pa, va, n, pb, vb, n, ALPHA, rho)
    if sequential:
        reject = np.abs(f["diff"]) > f["cs_half"]
    else:
        reject = np.abs(f["z"]) > 1.959963984540054
    return reject.any(axis=1)


@pytest.mark.parametrize("seed", [11, 12])
def test_a_a_with_daily_peeks_keeps_the_false_positive_rate(seed: int) -> None:
    fpr = float(_daily_peeks(BASE_RATE, seed).mean())
    assert fpr <= ALPHA, f"sequential test rejected {fpr:.3f} of {SIMS} A/A runs with {DAYS} daily peeks"


def test_the_same_peeking_with_a_fixed_horizon_test_does_not() -> None:
    """Control: checking a plain z-test every day inflates the error, so the A/A check can fail."""
    naive = float(_daily_peeks(BASE_RATE, 11, sequential=False).mean())
    assert naive > 2 * ALPHA


def test_power_on_a_known_ten_percent_lift_is_reported() -> None:
    power = float(_daily_peeks(BASE_RATE * 1.10, 21).mean())
    print(f"\npower on a 10% relative lift (p={BASE_RATE}, {PER_DAY}/arm/day, {DAYS} days): {power:.3f}")
    assert power >= 0.8


def test_delta_method_standard_error_matches_the_spread_of_ratio_estimates() -> None:
    rng = np.random.default_rng(5)
    rates, ses = [], []
    for _ in range(400):
        shown = rng.integers(1, 30, size=800).astype(float)
        clicks = rng.binomial(shown.astype(int), rng.beta(2, 18, size=800)).astype(float)
        est = ratio_estimate(clicks, shown)
        rates.append(est.rate)
        ses.append(est.se)
    assert np.std(rates, ddof=1) == pytest.approx(np.mean(ses), rel=0.12)


def test_a_difference_and_lift_carry_both_intervals() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.binomial(1, 0.10, 20_000), rng.binomial(1, 0.13, 20_000)
    c = compare(a, b, ALPHA, mixture_rho(ALPHA, 40_000))
    assert c.diff_low < c.diff < c.diff_high
    assert c.cs_low < c.diff_low and c.cs_high > c.diff_high  # anytime-valid is wider
    assert c.lift == pytest.approx(b.mean() / a.mean() - 1)
    assert c.significant and c.cs_low > 0 and c.cs_lift_low > 0


def test_an_injected_sample_ratio_mismatch_is_detected() -> None:
    assert sample_ratio_check([10_000, 10_600], [1, 1]).mismatch
    assert not sample_ratio_check([10_000, 10_090], [1, 1]).mismatch
    assert sample_ratio_check([900, 9_100], [5, 95]).mismatch  # 9 % where 5 % was planned
    small = sample_ratio_check([10, 40], [1, 1], min_count=100)
    assert not small.enough_data and not small.mismatch  # too few people to say


def test_sample_ratio_check_over_many_balanced_splits_rarely_fires() -> None:
    rng = np.random.default_rng(8)
    fired = sum(
        sample_ratio_check(np.bincount(rng.integers(0, 3, 30_000), minlength=3), [1, 1, 1]).mismatch
        for _ in range(2000)
    )
    assert fired <= 10  # p < 0.001: about 2 expected


def test_cuped_shrinks_the_variance_without_moving_the_difference() -> None:
    rng = np.random.default_rng(4)
    pre_a, pre_b = rng.poisson(5, 5000).astype(float), rng.poisson(5, 5000).astype(float)
    ya = pre_a * 0.8 + rng.normal(0, 1, 5000)
    yb = pre_b * 0.8 + rng.normal(0.1, 1, 5000)
    (aa, ab), theta = cuped_adjust([ya, yb], [pre_a, pre_b])
    plain, adjusted = compare(ya, yb), compare(aa, ab)
    assert theta == pytest.approx(0.8, abs=0.05)
    assert adjusted.diff_se < 0.6 * plain.diff_se
    assert adjusted.diff == pytest.approx(0.1, abs=3 * adjusted.diff_se)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 20)), min_size=2, max_size=60))
def test_linearized_values_average_to_the_ratio(rows: list[tuple[int, int]]) -> None:
    num = np.array([min(x, y) for x, y in rows], dtype=float)
    den = np.array([y for _, y in rows], dtype=float)
    values, rate = linearize(num, den)
    assert values.mean() == pytest.approx(num.sum() / den.sum())
    assert rate == pytest.approx(num.sum() / den.sum())


def test_the_confidence_sequence_narrows_and_detection_time_follows_the_effect() -> None:
    rho = mixture_rho(ALPHA, 10_000)
    widths = cs_multiplier(np.array([100, 1_000, 10_000, 100_000]), ALPHA, rho) / np.sqrt(
        [100, 1_000, 10_000, 100_000]
    )
    assert np.all(np.diff(widths) < 0)
    assert people_to_detect(0.02, 0.5, ALPHA, rho) < people_to_detect(0.01, 0.5, ALPHA, rho)
    assert people_to_detect(0.0, 0.5, ALPHA, rho) == float("inf")
