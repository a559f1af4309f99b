"""Anytime-valid inference: asymptotic confidence sequences (Waudby-Smith et al., 2021+).

An asymptotic confidence sequence (CS) is a band around a running estimate that, with
probability at least ``1 - alpha``, covers the true value *at every look at once*. A
test that rejects as soon as the band leaves zero therefore keeps its error rate however
often it is looked at (a fixed-horizon interval checked daily does not).

The band used here is the two-sided normal-mixture boundary applied to the standardized
running sum: with ``n`` units seen so far and a per-look standard error ``se`` of the
estimate, the half-width is ``se * m(n)`` where

    m(n) = sqrt( (n rho^2 + 1) / (n rho^2) * 2 * log( sqrt(n rho^2 + 1) / alpha ) )

``rho`` sets where the band is tightest: :func:`mixture_rho` picks it so the band is
narrowest near ``n_star`` units (the planned size). ``se`` is re-estimated at each look
(the "asymptotic" part: it is valid as the variance estimate converges).

Every function takes numpy arrays (any shape, broadcast together) or floats.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize

FloatArray = NDArray[np.float64]


def mixture_rho(alpha: float, n_star: float) -> float:
    """The mixing parameter that makes the band tightest near ``n_star`` units."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if n_star <= 0:
        raise ValueError("n_star must be positive")
    a = -2.0 * math.log(alpha)
    return math.sqrt((a + math.log(a + 1.0)) / n_star)


def cs_multiplier(n: ArrayLike, alpha: float, rho: float) -> FloatArray:
    """``m(n)``: how many standard errors the confidence sequence spans either side."""
    n_arr = np.asarray(n, dtype=np.float64)
    nr = np.maximum(n_arr, 1e-12) * rho * rho
    out = np.sqrt((nr + 1.0) / nr * 2.0 * np.log(np.sqrt(nr + 1.0) / alpha))
    return np.where(n_arr > 0, out, np.inf)


def confidence_sequence_halfwidth(se: ArrayLike, n: ArrayLike, alpha: float, rho: float) -> FloatArray:
    """Half-width of the confidence sequence for an estimate with standard error ``se``."""
    return np.asarray(se, dtype=np.float64) * cs_multiplier(n, alpha, rho)


def anytime_p_value(z: ArrayLike, n: ArrayLike, rho: float) -> FloatArray:
    """``min(1, 1 / mixture likelihood ratio)`` at this look (take the running minimum
    over looks for a p-value valid at every look)."""
    z_arr = np.asarray(z, dtype=np.float64)
    nr = np.asarray(n, dtype=np.float64) * rho * rho
    log_lr = -0.5 * np.log1p(nr) + nr * z_arr * z_arr / (2.0 * (1.0 + nr))
    return np.minimum(1.0, np.exp(-log_lr))


def people_to_detect(effect: float, unit_sd: float, alpha: float, rho: float, max_n: float = 1e9) -> float:
    """Units (both arms together) after which a true ``effect`` makes the band leave zero,
    when one unit's contribution has standard deviation ``unit_sd`` (``se = unit_sd / sqrt(n)``).

    ``inf`` when the effect is zero or cannot be detected within ``max_n`` units.
    """
    effect = abs(effect)
    if effect <= 0 or unit_sd <= 0 or not math.isfinite(effect) or not math.isfinite(unit_sd):
        return math.inf

    def gap(log_n: float) -> float:
        n = math.exp(log_n)
        return float(cs_multiplier(n, alpha, rho)) * unit_sd / math.sqrt(n) - effect

    lo, hi = 0.0, math.log(max_n)
    if gap(hi) > 0:
        return math.inf
    if gap(lo) <= 0:
        return 1.0
    return math.ceil(math.exp(optimize.brentq(gap, lo, hi, xtol=1e-6)))
