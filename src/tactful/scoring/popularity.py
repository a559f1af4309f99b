"""Popularity: how many positive interactions an item has had (log-scaled)."""

from __future__ import annotations

import numpy as np

from tactful.scoring.context import ScoringContext, normalized


class PopularityScorer:
    name = "popularity"

    def score(self, ctx: ScoringContext) -> np.ndarray:
        return normalized(np.log1p(np.maximum(ctx.catalog.interactions, 0.0)))
