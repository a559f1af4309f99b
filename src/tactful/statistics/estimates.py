"""Per-variant rates, differences and lifts with delta-method intervals; CUPED; SRM.

A rate is a ratio of per-person sums, ``R = sum(x) / sum(y)`` (clicks over items shown,
say), with the person as the unit. Its variance comes from the delta method; equivalently
each person gets a *linearized* value ``L_i = R + (x_i - R y_i) / mean(y)`` whose mean is
``R`` and whose variance over ``n`` is the delta-method variance. Linearized values are
what CUPED adjusts and what the comparisons use, so every metric (a per-person mean is
the case ``y_i = 1``) goes through one path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from tactful.statistics.sequential import anytime_p_value, cs_multiplier

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RateEstimate:
    """One variant's rate: the estimate, its standard error and a fixed-horizon interval."""

    rate: float
    se: float
    low: float
    high: float
    people: int
    numerator: float
    denominator: float


@dataclass(frozen=True)
class Comparison:
    """Treatment against control on one metric.

    ``diff`` and ``lift`` (relative, ``rate_b / rate_a - 1``) come with fixed-horizon
    delta-method intervals and with the anytime-valid confidence sequence (``cs_*``); the
    sequential verdict uses only the latter.
    """

    diff: float
    diff_se: float
    diff_low: float
    diff_high: float
    lift: float
    lift_se: float
    lift_low: float
    lift_high: float
    p_value: float
    cs_low: float
    cs_high: float
    cs_lift_low: float
    cs_lift_high: float
    anytime_p: float
    people: int

    @property
    def significant(self) -> bool:
        """The confidence sequence for the difference excludes zero."""
        return self.cs_low > 0 or self.cs_high < 0


@dataclass(frozen=True)
class SrmResult:
    """The sample-ratio check: observed people per variant against the planned weights."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    enough_data: bool
    mismatch: bool


def linearize(num: ArrayLike, den: ArrayLike) -> tuple[FloatArray, float]:
    """Per-person linearized values of the ratio ``sum(num) / sum(den)`` and the ratio."""
    x = np.asarray(num, dtype=np.float64)
    y = np.asarray(den, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("num and den must be 1-d arrays of the same length")
    total = float(y.sum())
    if x.size == 0 or total <= 0:
        return np.zeros(x.shape), math.nan
    rate = float(x.sum()) / total
    return rate + (x - rate * y) / (total / x.size), rate


def mean_estimate(values: ArrayLike, alpha: float = 0.05) -> RateEstimate:
    """The mean of per-person (linearized) values with a normal interval."""
    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    if n == 0:
        return RateEstimate(math.nan, math.nan, math.nan, math.nan, 0, 0.0, 0.0)
    mean = float(v.mean())
    se = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    z = float(stats.norm.ppf(1 - alpha / 2))
    return RateEstimate(mean, se, mean - z * se, mean + z * se, n, float(v.sum()), float(n))


def ratio_estimate(num: ArrayLike, den: ArrayLike, alpha: float = 0.05) -> RateEstimate:
    """``sum(num) / sum(den)`` over people with its delta-method interval."""
    values, rate = linearize(num, den)
    est = mean_estimate(values, alpha) if math.isfinite(rate) else mean_estimate([], alpha)
    return RateEstimate(
        rate=rate,
        se=est.se,
        low=est.low,
        high=est.high,
        people=int(np.asarray(num).size),
        numerator=float(np.sum(num)),
        denominator=float(np.sum(den)),
    )


def cuped_adjust(values: list[FloatArray], covariates: list[FloatArray]) -> tuple[list[FloatArray], float]:
    """CUPED: subtract ``theta * (c - mean(c))`` from every arm's values, with ``theta``
    pooled over the arms (``cov(v, c) / var(c)``). Returns the adjusted arms and ``theta``
    (0 when the covariate does not vary)."""
    if len(values) != len(covariates):
        raise ValueError("one covariate array per arm")
    v = np.concatenate([np.asarray(a, dtype=np.float64) for a in values]) if values else np.zeros(0)
    c = np.concatenate([np.asarray(a, dtype=np.float64) for a in covariates]) if covariates else np.zeros(0)
    if v.shape != c.shape:
        raise ValueError("values and covariates must have the same lengths")
    if v.size < 3 or float(np.var(c)) <= 0:
        return [np.asarray(a, dtype=np.float64) for a in values], 0.0
    theta = float(np.cov(v, c, ddof=1)[0, 1] / np.var(c, ddof=1))
    centre = float(c.mean())
    return [
        np.asarray(a, dtype=np.float64) - theta * (np.asarray(k) - centre)
        for a, k in zip(values, covariates, strict=True)
    ], theta


def compare_moments(
    mean_a: ArrayLike,
    var_a: ArrayLike,
    n_a: ArrayLike,
    mean_b: ArrayLike,
    var_b: ArrayLike,
    n_b: ArrayLike,
    alpha: float,
    rho: float,
) -> dict[str, FloatArray]:
    """Vectorised core of :func:`compare` from per-arm means, unit variances and counts.

    Returns arrays ``diff, diff_se, lift, lift_se, cs_half, cs_lift_half, z, anytime_p``.
    """
    ma, va, na = (np.asarray(x, dtype=np.float64) for x in (mean_a, var_a, n_a))
    mb, vb, nb = (np.asarray(x, dtype=np.float64) for x in (mean_b, var_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        sa2 = np.where(na > 0, va / na, np.inf)
        sb2 = np.where(nb > 0, vb / nb, np.inf)
        diff = mb - ma
        diff_se = np.sqrt(sa2 + sb2)
        lift = mb / ma - 1.0
        lift_se = np.sqrt(sb2 / ma**2 + mb**2 * sa2 / ma**4)
        n = na + nb
        # no spread at all (every person alike): the variance estimate says nothing yet
        flat = ~(diff_se > 1e-9 * np.maximum(np.maximum(np.abs(ma), np.abs(mb)), 1e-12))
        diff_se = np.where(flat, np.inf, diff_se)
        lift_se = np.where(flat, np.inf, lift_se)
        mult = cs_multiplier(n, alpha, rho)
        z = np.where(diff_se > 0, diff / diff_se, 0.0)
        anytime = anytime_p_value(z, n, rho)
    return {
        "diff": diff,
        "diff_se": diff_se,
        "lift": lift,
        "lift_se": lift_se,
        "cs_half": diff_se * mult,
        "cs_lift_half": lift_se * mult,
        "z": z,
        "anytime_p": anytime,
    }


def compare(control: ArrayLike, treatment: ArrayLike, alpha: float = 0.05, rho: float = 0.01) -> Comparison:
    """Treatment minus control on per-person (linearized, possibly CUPED-adjusted) values."""
    a = np.asarray(control, dtype=np.float64)
    b = np.asarray(treatment, dtype=np.float64)
    va = float(a.var(ddof=1)) if a.size > 1 else math.inf
    vb = float(b.var(ddof=1)) if b.size > 1 else math.inf
    ma = float(a.mean()) if a.size else math.nan
    mb = float(b.mean()) if b.size else math.nan
    f = {k: float(v) for k, v in compare_moments(ma, va, a.size, mb, vb, b.size, alpha, rho).items()}
    zq = float(stats.norm.ppf(1 - alpha / 2))
    p = float(2 * stats.norm.sf(abs(f["z"]))) if math.isfinite(f["z"]) else math.nan
    return Comparison(
        diff=f["diff"],
        diff_se=f["diff_se"],
        diff_low=f["diff"] - zq * f["diff_se"],
        diff_high=f["diff"] + zq * f["diff_se"],
        lift=f["lift"],
        lift_se=f["lift_se"],
        lift_low=f["lift"] - zq * f["lift_se"],
        lift_high=f["lift"] + zq * f["lift_se"],
        p_value=p,
        cs_low=f["diff"] - f["cs_half"],
        cs_high=f["diff"] + f["cs_half"],
        cs_lift_low=f["lift"] - f["cs_lift_half"],
        cs_lift_high=f["lift"] + f["cs_lift_half"],
        anytime_p=f["anytime_p"],
        people=int(a.size + b.size),
    )


def sample_ratio_check(
    observed: ArrayLike, weights: ArrayLike, threshold: float = 0.001, min_count: int = 100
) -> SrmResult:
    """Chi-square goodness of fit of people per variant against the planned weights.

    A mismatch needs ``p < threshold`` and at least ``min_count`` people in all; with fewer,
    ``enough_data`` is False and nothing is flagged.
    """
    obs = np.asarray(observed, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if obs.shape != w.shape or obs.ndim != 1 or obs.size < 2:
        raise ValueError("one observed count and one weight per variant (at least two)")
    if np.any(w <= 0):
        raise ValueError("weights must be positive")
    total = float(obs.sum())
    expected = total * w / w.sum()
    enough = total >= min_count
    if total <= 0:
        return SrmResult(tuple(int(x) for x in obs), tuple(expected), 0.0, 1.0, False, False)
    chi2, p = stats.chisquare(obs, expected)
    return SrmResult(
        observed=tuple(int(x) for x in obs),
        expected=tuple(float(x) for x in expected),
        chi2=float(chi2),
        p_value=float(p),
        enough_data=enough,
        mismatch=bool(enough and p < threshold),
    )
