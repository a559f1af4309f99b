"""A person's history folded into the served model's sums, kept up to date by what changed.

Scoring a history costs time in proportion to its length: the item model adds one row of
item-to-item weights per item, the factor fold-in one outer product per item. Both are sums
over the history's items, so when a person comes back with a few new or changed signals the
sums only need those items' terms: a like posted a moment ago still shapes the very next
response (P1), at a cost that does not grow with everything the person did before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tactful.models.ease import LinearItemModel

if TYPE_CHECKING:
    from tactful.models.recommender import Recommender

REFRESH_UPDATES = 32  # incremental steps before the sums are recomputed from scratch (float drift)


@dataclass(frozen=True)
class HistoryFold:
    """One weighted history as the model's sums.

    ``items`` (sorted model indices) and ``weights`` are the history the sums hold;
    ``support``/``part`` the item model's scores (every other item scores 0); ``gram`` and
    ``rhs`` the history's terms of the factor fold-in (None without a factor part).
    """

    owner: int  # id() of the model the sums belong to
    items: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float32]
    support: npt.NDArray[np.int64]
    part: npt.NDArray[np.float32]
    gram: npt.NDArray[np.float64] | None
    rhs: npt.NDArray[np.float64] | None
    updates: int = 0
    recent: npt.NDArray[np.int64] | None = None  # the sequence component's items, newest first

    @property
    def has_positive(self) -> bool:
        return bool(np.any(self.weights > 0))


def fold_history(
    model: Recommender,
    indices: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float32],
    previous: HistoryFold | None = None,
    tolerance: float = 0.0,
) -> HistoryFold:
    """Fold a weighted history (model indices, model weights) into ``model``'s sums.

    With ``previous`` (this person's last fold for the same model), only items that were
    added, removed, or whose weight moved by more than ``tolerance`` (relative) are applied;
    the result equals a full fold of the history it records, up to float rounding.
    """
    order = np.argsort(indices, kind="stable")
    items, weights = indices[order], weights[order]
    unique = items.size < 2 or bool(np.all(items[1:] > items[:-1]))
    if (
        previous is None
        or previous.owner != id(model)
        or previous.updates >= REFRESH_UPDATES
        or not unique
        or not isinstance(model.items, LinearItemModel)
    ):
        return _full(model, items, weights)
    return _incremental(model, previous, items, weights, tolerance)


def _full(model: Recommender, items: npt.NDArray[np.int64], weights: npt.NDArray[np.float32]) -> HistoryFold:
    support, part = model.items.contributions(items, weights)
    gram = rhs = None
    if model.config.factor_weight > 0:
        gram, rhs = model.factors.normal_terms(items, model.factor_values(weights))
    return HistoryFold(id(model), items, weights, support, part, gram, rhs)


def _incremental(
    model: Recommender,
    previous: HistoryFold,
    items: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float32],
    tolerance: float,
) -> HistoryFold:
    old_items, old_weights = previous.items, previous.weights
    if old_items.size:
        at = np.minimum(np.searchsorted(old_items, items), old_items.size - 1)
        found = old_items[at] == items
    else:
        at, found = np.zeros(items.size, dtype=np.int64), np.zeros(items.size, dtype=bool)
    before = np.where(found, old_weights[at], np.float32(0.0)).astype(np.float32)
    moved = ~found | (np.abs(weights - before) > tolerance * np.abs(before))
    kept = np.zeros(old_items.size, dtype=bool)
    kept[at[found]] = True
    gone = ~kept
    changes = int(np.count_nonzero(moved)) + int(np.count_nonzero(gone))
    if changes == 0:  # nothing moved beyond the tolerance: the sums stand
        return previous
    if 2 * changes > items.size:  # most of the history changed: summing afresh is cheaper
        return _full(model, items, weights)
    n_moved, n_gone = int(np.count_nonzero(moved)), int(np.count_nonzero(gone))
    changed = np.concatenate([items[moved], old_items[gone]])
    new_w = np.concatenate([weights[moved], np.zeros(n_gone, dtype=np.float32)])
    old_w = np.concatenate([before[moved], old_weights[gone]])
    present_after = np.concatenate([np.ones(n_moved), np.zeros(n_gone)])
    present_before = np.concatenate([found[moved].astype(np.float64), np.ones(n_gone)])
    _, delta_part = model.items.contributions(changed, new_w - old_w)
    gram, rhs = previous.gram, previous.rhs
    if gram is not None and rhs is not None:
        conf_after = model.factors.alpha * model.factor_values(new_w).astype(np.float64)
        conf_before = model.factors.alpha * model.factor_values(old_w).astype(np.float64)
        d_gram = present_after * (np.abs(conf_after) - 1.0) - present_before * (np.abs(conf_before) - 1.0)
        d_rhs = present_after * np.maximum(conf_after, 0.0) - present_before * np.maximum(conf_before, 0.0)
        y = model.factors.item_factors[changed].astype(np.float64)
        gram = gram + (y.T * d_gram) @ y
        rhs = rhs + d_rhs @ y
    return replace(
        previous,
        items=items,
        weights=np.where(moved, weights, before).astype(np.float32),
        part=previous.part + delta_part,
        gram=gram,
        rhs=rhs,
        updates=previous.updates + 1,
    )
