"""Popularity: how many positive interactions an item has had (log-scaled)."""

from __future__ import annotations

import numpy as np

from tactful.scoring.context import PeakScaled, ScoringContext


def _log_counts(interactions: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(interactions, 0.0))


class PopularityScorer:
    """Memoized per catalog; a counter update re-scores only the items it touched."""

    name = "popularity"

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._epoch = -1
        self._memo = PeakScaled.of(np.zeros(0))

    def score(self, ctx: ScoringContext) -> np.ndarray:
        cat = ctx.catalog
        key = (id(cat), cat.version)
        if key != self._key or self._epoch != cat.stats_epoch:
            epoch = cat.stats_epoch
            changed = cat.changed_since(self._epoch) if key == self._key else None
            memo = None
            if changed is not None:
                memo = self._memo.patched(changed, _log_counts(cat.interactions[changed]))
            self._memo = memo or PeakScaled.of(_log_counts(cat.interactions))
            self._key, self._epoch = key, epoch
        return self._memo.scores
