"""Collaborative scores from the trained model, folding in the person's current signals (P1)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tactful.models.recommender import Recommender
from tactful.scoring.context import ScoringContext, normalized


class CollaborativeScorer:
    """Scores every catalog item with the served model.

    The person's history is read from the request's scoring context (decayed, consented
    item weights), so a like posted a moment ago changes the scores without retraining.
    Items the model has never seen score at the model's minimum.
    """

    name = "collaborative"

    def __init__(self, model: Callable[[], Recommender | None]) -> None:
        self.model = model
        self._key: tuple[int, int, int] | None = None
        self._to_model = np.zeros(0, dtype=np.int64)
        self._known = np.zeros(0, dtype=bool)

    def _mapping(self, ctx: ScoringContext, model: Recommender) -> None:
        cat = ctx.catalog
        key = (id(model), id(cat), cat.version)
        if key != self._key:
            self._to_model = model.index_of(cat.item_ids)
            self._known = self._to_model >= 0
            self._key = key

    def score(self, ctx: ScoringContext) -> np.ndarray | None:
        model = self.model()
        if model is None:
            return None
        positive = ctx.item_weights > 0
        if not positive.any():
            return None
        self._mapping(ctx, model)
        positions = ctx.item_positions[positive]
        model_idx = self._to_model[positions]
        seen = model_idx >= 0
        if not seen.any():
            return None
        raw = model.score(model_idx[seen], ctx.item_weights[positive][seen], ctx.item_times[positive][seen])
        out = np.full(ctx.catalog.size, float(raw.min()) if raw.size else 0.0)
        out[self._known] = raw[self._to_model[self._known]]
        low = float(out.min())
        return normalized(out - low)
