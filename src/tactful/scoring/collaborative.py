"""Collaborative scores from the trained model, folding in the person's current signals (P1)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from tactful.metrics import metrics
from tactful.models.history_fold import HistoryFold
from tactful.models.recommender import Recommender
from tactful.scoring.context import ScoringContext

MIN_CACHED_HISTORY = 32  # shorter histories fold from scratch faster than a cache lookup pays back


class CollaborativeScorer:
    """Scores every catalog item with the served model.

    The person's history is read from the request's scoring context (decayed, consented
    item weights), so a like posted a moment ago changes the scores without retraining.
    Items the model has never seen score at the model's minimum.

    For people with long histories the scorer keeps their last :class:`HistoryFold` and the
    scores it gave (at most ``fold_cache_size`` people, least recently used first out) and
    applies only the items whose weight changed since, or moved more than ``fold_tolerance``
    (relative); when nothing moved, the kept scores are returned as they are. The cache is
    emptied whenever the model or the catalog version changes (erasure bumps the latter), and
    :meth:`forget` drops one person.
    """

    name = "collaborative"

    def __init__(
        self,
        model: Callable[[], Recommender | None],
        fold_cache_size: int = 512,
        fold_tolerance: float = 1e-3,
    ) -> None:
        self.model = model
        self.fold_cache_size = fold_cache_size
        self.fold_tolerance = fold_tolerance
        self._key: tuple[int, int, int] | None = None
        self._to_model = np.zeros(0, dtype=np.int64)
        self._known = np.zeros(0, dtype=bool)
        self._identity = False
        self._folds: OrderedDict[str, tuple[HistoryFold, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def _mapping(self, ctx: ScoringContext, model: Recommender) -> None:
        cat = ctx.catalog
        key = (id(model), id(cat), cat.version)
        if key != self._key:
            with self._lock:
                self._folds.clear()
            self._to_model = model.index_of(cat.item_ids)
            self._known = self._to_model >= 0
            self._identity = len(model.item_ids) == cat.size and bool(
                np.array_equal(self._to_model, np.arange(cat.size))
            )
            self._key = key

    def forget(self, person_id: str) -> None:
        """Drop what is kept for one person (their profile changed wholesale, or was erased)."""
        with self._lock:
            self._folds.pop(person_id, None)

    def clear(self) -> None:
        with self._lock:
            self._folds.clear()

    def _previous(self, person_id: str, size: int) -> tuple[HistoryFold, np.ndarray] | None:
        if not person_id or size < MIN_CACHED_HISTORY or self.fold_cache_size <= 0:
            return None
        with self._lock:
            return self._folds.get(person_id)

    def _keep(self, person_id: str, fold: HistoryFold, scores: np.ndarray) -> None:
        if not person_id or fold.items.size < MIN_CACHED_HISTORY or self.fold_cache_size <= 0:
            return
        scores.flags.writeable = False  # shared with the next request that finds the fold unchanged
        with self._lock:
            self._folds[person_id] = (fold, scores)
            self._folds.move_to_end(person_id)
            while len(self._folds) > self.fold_cache_size:
                self._folds.popitem(last=False)

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
        history = model_idx[seen]
        kept = self._previous(ctx.person_id, history.size)
        fold = model.fold(
            history,
            ctx.item_weights[positive][seen],
            ctx.item_times[positive][seen],
            previous=kept[0] if kept else None,
            tolerance=self.fold_tolerance,
        )
        if history.size >= MIN_CACHED_HISTORY and self.fold_cache_size > 0 and ctx.person_id:
            result = "miss" if kept is None else "hit" if fold is kept[0] else "updated"
            metrics().fold_cache.labels(result).inc()
        if kept is not None and fold is kept[0]:  # nothing moved: the scores stand as well
            return kept[1]
        out = self._catalog_scores(ctx, model.score_fold(fold))
        if out is not None:
            self._keep(ctx.person_id, fold, out)
        return out

    def _catalog_scores(self, ctx: ScoringContext, raw: np.ndarray) -> np.ndarray | None:
        """Model scores in catalog order, shifted to start at 0 and scaled to peak at 1."""
        if not self._identity:  # re-map to catalog order; unseen items score the model's minimum
            mapped = np.full(ctx.catalog.size, raw.min() if raw.size else 0.0, dtype=raw.dtype)
            mapped[self._known] = raw[self._to_model[self._known]]
            raw = mapped
        if raw.size == 0:
            return None
        low, high = float(raw.min()), float(raw.max())
        out = np.subtract(raw, low, dtype=np.float64)
        if high > low:
            out *= 1.0 / (high - low)
        return out
