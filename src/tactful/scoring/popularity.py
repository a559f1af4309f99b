"""Popularity: how many positive interactions an item has had (log-scaled)."""

from __future__ import annotations

import numpy as np

from tactful.scoring.context import ScoringContext, normalized


class PopularityScorer:
    """Memoized per catalog and counter epoch: the scores only change when counters do."""

    name = "popularity"

    def __init__(self) -> None:
        self._key: tuple[int, int, int] | None = None
        self._scores = np.zeros(0)

    def score(self, ctx: ScoringContext) -> np.ndarray:
        cat = ctx.catalog
        key = (id(cat), cat.version, cat.stats_epoch)
        if key != self._key:
            self._scores = normalized(np.log1p(np.maximum(cat.interactions, 0.0)))
            self._key = key
        return self._scores
