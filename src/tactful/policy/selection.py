"""The select stage (P7, P10): promoted placements, a diversified main list, exploration slots.

``select`` is pure: scores and plain inputs in, chosen positions and per-slot reasons out.
Exploration slots hold good, under-exposed items outside the person's established
interests; promoted placements are held to the surface's ``percent_promoted`` and to each
promotion's remaining per-person cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tactful.domain.recommendation import Reason
from tactful.engine.catalog import CatalogIndex
from tactful.policy.config import DiversityMethod
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


def _explore(
    final: np.ndarray,
    catalog: CatalogIndex,
    taken: set[int],
    interest_cols: np.ndarray,
    seen: set[int],
    k: int,
    rng: np.random.Generator,
) -> list[int]:
    if k <= 0:
        return []
    ok = np.isfinite(final)
    ok[list(taken)] = False
    if seen:
        ok[list(seen)] = False
    if interest_cols.size:
        touches = np.asarray(catalog.item_tag[:, interest_cols].sum(axis=1)).ravel() > 0
        ok &= ~touches
    pool = np.flatnonzero(ok)
    if pool.size == 0:
        return []
    quality = np.log1p(np.maximum(catalog.interactions, 0.0))
    head = float(np.quantile(quality, HEAD_QUANTILE)) if quality.size else 0.0
    band = pool[(quality[pool] <= head) & (quality[pool] > 0)]
    if band.size < k:
        band = pool
    best = band[np.argsort(-quality[band], kind="stable")[: max(4 * k, 12)]]
    weights = quality[best] + 0.1
    chosen = rng.choice(best, size=min(k, best.size), replace=False, p=weights / weights.sum())
    return [int(c) for c in chosen]


def select(
    final: np.ndarray,
    catalog: CatalogIndex,
    n: int,
    cfg: SelectConfig,
    interest_tags: set[str],
    target: np.ndarray,
    seen: set[int],
    promos: PromotionCandidates,
    seed: int,
) -> Selection:
    """Fill ``n`` slots from the allowed (finite) scores."""
    available = int(np.isfinite(final).sum())
    n = min(n, available)
    if n <= 0:
        return Selection([])
    promoted = _pick_promoted(final, promos, int(math.floor(n * cfg.percent_promoted)))
    k_explore = exploration_slots(n, cfg.exploration_share)
    k_main = n - len(promoted) - k_explore
    rest = np.where(np.isfinite(final), final, -np.inf)
    rest[list(promoted)] = -np.inf
    finite = np.flatnonzero(np.isfinite(rest))
    shortlist = finite[np.argsort(-rest[finite], kind="stable")[: max(SHORTLIST, 4 * n)]]
    if cfg.diversity is DiversityMethod.mmr:
        main = mmr(shortlist, rest[shortlist], catalog.item_tag_norm, k_main, cfg.diversity_lambda)
    elif cfg.diversity is DiversityMethod.calibration:
        main = calibrate(shortlist, rest[shortlist], catalog.item_tag, target, k_main, cfg.diversity_lambda)
    else:
        main = [int(p) for p in shortlist[:k_main]]
    cols = np.array(
        sorted(catalog.tag_index[t] for t in interest_tags if t in catalog.tag_index), dtype=np.int64
    )
    explored = _explore(
        final, catalog, set(main) | set(promoted), cols, seen, k_explore, np.random.default_rng(seed)
    )
    short = n - len(main) - len(promoted) - len(explored)
    if short > 0:
        spare = [int(p) for p in shortlist if int(p) not in set(main) | set(promoted) | set(explored)]
        main += spare[:short]
    positions = list(main)
    for k, pos in enumerate(sorted(promoted, key=lambda p: -final[p])):
        positions.insert(min(1 + 3 * k, len(positions)), pos)
    positions += explored
    reasons: dict[int, list[Reason]] = {pos: [promoted_reason(promos, pid)] for pos, pid in promoted.items()}
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
