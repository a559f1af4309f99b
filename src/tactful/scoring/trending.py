"""Trending: positive interactions with a short half-life, seen from the request time."""

from __future__ import annotations

import numpy as np

from tactful.scoring.context import ScoringContext, normalized
from tactful.signals.profile import DAY


def trend_now(trend: np.ndarray, trend_ts: np.ndarray, now: float, half_life_days: float) -> np.ndarray:
    """Decay each stored trend score from its timestamp to ``now``."""
    age = np.maximum(now - trend_ts, 0.0) / (half_life_days * DAY)
    return trend * np.power(0.5, age)


class TrendingScorer:
    name = "trending"

    def __init__(self, half_life_days: float = 3.0) -> None:
        self.half_life_days = half_life_days

    def score(self, ctx: ScoringContext) -> np.ndarray:
        cat = ctx.catalog
        return normalized(np.log1p(trend_now(cat.trend, cat.trend_ts, ctx.now, self.half_life_days)))
