"""The select stage (P7, P10): promoted placements, a diversified main list, exploration slots.

``select`` is pure: scores and plain inputs in, chosen positions and per-slot reasons out.
Exploration slots hold good, under-exposed items outside the person's established
interests; promoted placements are held to the surface's ``percent_promoted`` and to each
promotion's remaining per-person cap.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from tactful.config.policy import DiversityMethod
from tactful.domain.recommendation import Reason
from tactful.index.catalog import CatalogIndex
from tactful.policy.diversity import calibrate, mmr
from tactful.policy.promotions import PromotionCandidates, promoted_reason

HEAD_QUANTILE = 0.9
"""Items above this popularity quantile are already well exposed and never count as exploration."""

SHORTLIST = 40


@dataclass(frozen=True)
class SelectConfig:
    exploration_share: float = 0.1
    diversity: DiversityMethod = DiversityMethod.mmr
    diversity_lambda: float = 0.75
    percent_promoted: float = 0.2
    stated_share: float = 0.0


@dataclass(frozen=True)
class Selection:
    positions: list[int]
    reasons: dict[int, list[Reason]] = field(default_factory=dict)
    promoted: dict[int, str] = field(default_factory=dict)
    explored: frozenset[int] = frozenset()


def exploration_slots(n: int, share: float) -> int:
    """Slots reserved for exploration: the share of ``n``, rounded half up."""
    return int(math.floor(n * share + 0.5))


def _pick_promoted(final: np.ndarray, promos: PromotionCandidates, limit: int) -> dict[int, str]:
    if limit <= 0 or not promos.positions:
        return {}
    left = dict(promos.remaining)
    ranked = sorted((p for p in promos.positions if np.isfinite(final[p])), key=lambda p: (-final[p], p))
    picked: dict[int, str] = {}
    for pos in ranked:
        pid = promos.positions[pos]
        if left.get(pid, 0) > 0:
            picked[pos] = pid
            left[pid] -= 1
            if len(picked) == limit:
                break
    return picked


def best_first(values: np.ndarray, m: int) -> np.ndarray:
    """Indices of the ``m`` largest ``values``, largest first, ties by index.

    The same as ``np.argsort(-values, kind="stable")[:m]``, but a partition (linear in
    the catalog) instead of a full sort.
    """
    if m >= values.size:
        return np.argsort(-values, kind="stable")
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    neg = -values
    kth = np.partition(neg, m - 1)[m - 1]
    better = np.flatnonzero(neg < kth)
    ties = np.flatnonzero(neg == kth)[: m - better.size]
    cand = np.concatenate([better, ties])
    return cand[np.lexsort((cand, neg[cand]))]


def first_allowed(order: np.ndarray, ok: np.ndarray, m: int) -> np.ndarray:
    """The first ``m`` entries of ``order`` whose ``ok`` flag is set (scanning only as far as needed)."""
    found: list[np.ndarray] = []
    got, start, chunk = 0, 0, max(4 * m, 64)
    while got < m and start < order.size:
        part = order[start : start + chunk]
        part = part[ok[part]]
        found.append(part)
        got += part.size
        start += chunk
        chunk *= 4
    return np.concatenate(found)[:m] if found else np.zeros(0, dtype=np.int64)


def _explore(
    final: np.ndarray,
    catalog: CatalogIndex,
    taken: set[int],
    interest_cols: np.ndarray,
    seen: Collection[int] | np.ndarray,
    k: int,
    seed: int,
) -> list[int]:
    if k <= 0:
        return []
    ok = np.isfinite(final)
    ok[list(taken)] = False
    seen_pos = np.fromiter(seen, dtype=np.int64) if isinstance(seen, (set, frozenset)) else seen
    if len(seen_pos):
        ok[np.asarray(seen_pos, dtype=np.int64)] = False
    if interest_cols.size:
        ok &= ~catalog.items_with_tags(interest_cols)
    quality, band = catalog.exposure_band(HEAD_QUANTILE)
    want = max(4 * k, 12)
    best = first_allowed(band, ok, want)
    if best.size < min(k, want):  # fewer than k under-exposed items left: the best of all allowed
        pool = np.flatnonzero(ok)
        if pool.size == 0:
            return []
        best = pool[best_first(quality[pool], want)]
    weights = quality[best] + 0.1
    rng = np.random.default_rng(seed)
    chosen = rng.choice(best, size=min(k, best.size), replace=False, p=weights / weights.sum())
    return [int(c) for c in chosen]


def _with_stated(
    main: list[int], final: np.ndarray, allowed: np.ndarray, catalog: CatalogIndex, cols: np.ndarray, k: int
) -> tuple[list[int], list[int]]:
    """``main`` holding at least ``k`` items with a stated interest (P11): the best-scoring such
    items replace the lowest-ranked others. Returns the list and the items brought in."""
    has = catalog.items_with_tags(cols)
    need = k - sum(1 for p in main if has[p])
    if need <= 0:
        return main, []
    ok = has & allowed
    ok[main] = False
    cand = np.flatnonzero(ok)
    brought = [int(p) for p in cand[best_first(final[cand], need)]]
    if not brought:
        return main, []
    out = list(main)
    slots = [i for i in range(len(out) - 1, -1, -1) if not has[out[i]]][: len(brought)]
    for i, pos in zip(sorted(slots), brought, strict=False):
        out[i] = pos
    return out, brought[: len(slots)]


def stated_reason(catalog: CatalogIndex, pos: int, stated: Collection[str]) -> Reason:
    tag = next((t for t in catalog.items[pos].tags if t in stated), None)
    label = catalog.tag_labels.get(tag, tag) if tag else "an interest you told us"
    return Reason(
        code="stated_interest", message=f"you told us you like {label}", tag=tag, provenance=["explicit"]
    )


def select(
    final: np.ndarray,
    catalog: CatalogIndex,
    n: int,
    cfg: SelectConfig,
    interest_tags: set[str],
    target: np.ndarray,
    seen: Collection[int] | np.ndarray,
    promos: PromotionCandidates,
    seed: int,
    stated_tags: Collection[str] = (),
) -> Selection:
    """Fill ``n`` slots from the allowed (finite) scores.

    With ``stated_tags`` and a ``stated_share``, that share of the main slots (rounded half
    up) holds items with a stated interest, so a statement shapes the very next list.
    """
    allowed = np.isfinite(final)
    n = min(n, int(np.count_nonzero(allowed)))
    if n <= 0:
        return Selection([])
    promoted = _pick_promoted(final, promos, int(math.floor(n * cfg.percent_promoted)))
    k_explore = exploration_slots(n, cfg.exploration_share)
    k_main = n - len(promoted) - k_explore
    if promoted:
        allowed[list(promoted)] = False
    finite = np.flatnonzero(allowed)  # the allowed, unpromoted items: their scores are ``final``
    shortlist = finite[best_first(final[finite], max(SHORTLIST, 4 * n))]
    scores = final[shortlist]
    if cfg.diversity is DiversityMethod.mmr:
        main = mmr(shortlist, scores, catalog.item_tag_norm, k_main, cfg.diversity_lambda)
    elif cfg.diversity is DiversityMethod.calibration:
        main = calibrate(shortlist, scores, catalog.item_tag, target, k_main, cfg.diversity_lambda)
    else:
        main = [int(p) for p in shortlist[:k_main]]
    stated_in: list[int] = []
    k_stated = min(exploration_slots(n, cfg.stated_share), k_main) if stated_tags else 0
    if k_stated > 0:
        stated_cols = catalog.tag_columns(stated_tags)
        main, stated_in = _with_stated(main, final, allowed, catalog, stated_cols, k_stated)
    cols = catalog.tag_columns(interest_tags) if k_explore > 0 else np.zeros(0, dtype=np.int64)
    explored = _explore(final, catalog, set(main) | set(promoted), cols, seen, k_explore, seed)
    short = n - len(main) - len(promoted) - len(explored)
    if short > 0:
        spare = [int(p) for p in shortlist if int(p) not in set(main) | set(promoted) | set(explored)]
        main += spare[:short]
    positions = list(main)
    for k, pos in enumerate(sorted(promoted, key=lambda p: -final[p])):
        positions.insert(min(1 + 3 * k, len(positions)), pos)
    positions += explored
    reasons: dict[int, list[Reason]] = {pos: [promoted_reason(promos, pid)] for pos, pid in promoted.items()}
    for pos in stated_in:
        reasons[pos] = [stated_reason(catalog, pos, stated_tags)]
    for pos in explored:
        tag = next((t for t in catalog.items[pos].tags if not t.startswith("creator:")), None)
        label = catalog.tag_labels.get(tag, tag) if tag else "something new"
        reasons[pos] = [
            Reason(
                code="exploring",
                message=f"exploring: {label}, outside your usual interests",
                tag=tag,
                item_id=catalog.item_ids[pos],
            )
        ]
    return Selection(positions, reasons, promoted, frozenset(explored))
