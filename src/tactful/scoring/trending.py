"""Trending: positive interactions with a short half-life, seen from the request time."""

from __future__ import annotations

import numpy as np

from tactful.scoring.context import ScoringContext, normalized
from tactful.signals.profile import DAY

REFRESH_SECONDS = 60.0


def trend_now(trend: np.ndarray, trend_ts: np.ndarray, now: float, half_life_days: float) -> np.ndarray:
    """Decay each stored trend score from its timestamp to ``now``."""
    age = np.maximum(now - trend_ts, 0.0) / (half_life_days * DAY)
    return np.asarray(trend * np.exp2(-age))


class TrendingScorer:
    """Memoized per counter epoch and minute: decay over a minute is far below ranking noise."""

    name = "trending"

    def __init__(self, half_life_days: float = 3.0) -> None:
        self.half_life_days = half_life_days
        self._key: tuple[int, int, int, int] | None = None
        self._scores = np.zeros(0)

    def score(self, ctx: ScoringContext) -> np.ndarray:
        cat = ctx.catalog
        key = (id(cat), cat.version, cat.stats_epoch, int(ctx.now // REFRESH_SECONDS))
        if key != self._key:
            raw = trend_now(cat.trend, cat.trend_ts, ctx.now, self.half_life_days)
            self._scores = normalized(np.log1p(raw))
            self._key = key
        return self._scores
