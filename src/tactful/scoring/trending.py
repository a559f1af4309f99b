"""Trending: positive interactions with a short half-life, seen from the request time."""

from __future__ import annotations

import numpy as np

from tactful.index.catalog import CatalogIndex
from tactful.scoring.context import PeakScaled, ScoringContext
from tactful.signals.profile import DAY

REFRESH_SECONDS = 60.0


def trend_now(trend: np.ndarray, trend_ts: np.ndarray, now: float, half_life_days: float) -> np.ndarray:
    """Decay each stored trend score from its timestamp to ``now``."""
    age = np.maximum(now - trend_ts, 0.0) / (half_life_days * DAY)
    return np.asarray(trend * np.exp2(-age))


class TrendingScorer:
    """Memoized per minute (decay over a minute is far below ranking noise); a counter update
    within the minute re-scores only the items it touched, decayed to the same instant."""

    name = "trending"

    def __init__(self, half_life_days: float = 3.0) -> None:
        self.half_life_days = half_life_days
        self._key: tuple[int, int, int] | None = None
        self._epoch = -1
        self._at = 0.0
        self._memo = PeakScaled.of(np.zeros(0))

    def _log_trend(self, cat: CatalogIndex, positions: np.ndarray | slice) -> np.ndarray:
        trend, since = cat.trend[positions], cat.trend_ts[positions]
        return np.log1p(trend_now(trend, since, self._at, self.half_life_days))

    def score(self, ctx: ScoringContext) -> np.ndarray:
        cat = ctx.catalog
        key = (id(cat), cat.version, int(ctx.now // REFRESH_SECONDS))
        if key != self._key or self._epoch != cat.stats_epoch:
            epoch = cat.stats_epoch
            changed = cat.changed_since(self._epoch) if key == self._key else None
            memo = self._memo.patched(changed, self._log_trend(cat, changed)) if changed is not None else None
            if memo is None:
                self._at = ctx.now
                memo = PeakScaled.of(self._log_trend(cat, slice(None)))
            self._memo = memo
            self._key, self._epoch = key, epoch
        return self._memo.scores
