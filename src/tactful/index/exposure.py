"""Items ranked by how much exposure they have had, kept current as counters move.

Exploration (P10) draws from the under-exposed band: items with some interactions, at or
below a quantile of exposure quality. Ranking the whole catalog is a sort; an ingest moves
a few counters, so the ranking is patched by moving just those items to their new places.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PATCH_LIMIT = 64  # more changed items than this: sorting afresh is cheaper


def _quality(interactions: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(interactions, 0.0))


@dataclass(frozen=True)
class ExposureRanking:
    """Positions by exposure quality (``log1p`` of interactions), best first, ties by position.

    ``key`` is ``-quality[order]`` (ascending), the sort key the band is cut from.
    """

    epoch: int
    quality: np.ndarray
    order: np.ndarray
    key: np.ndarray

    @classmethod
    def of(cls, epoch: int, interactions: np.ndarray) -> ExposureRanking:
        quality = _quality(interactions)
        order = np.argsort(-quality, kind="stable")
        return cls._frozen(epoch, quality, order, -quality[order])

    @classmethod
    def _frozen(cls, epoch: int, quality: np.ndarray, order: np.ndarray, key: np.ndarray) -> ExposureRanking:
        for array in (quality, order, key):
            array.flags.writeable = False
        return cls(epoch, quality, order, key)

    def patched(self, epoch: int, positions: np.ndarray, interactions: np.ndarray) -> ExposureRanking:
        """The ranking after the counters at ``positions`` changed (same as :meth:`of` on them all)."""
        moved = np.unique(positions)
        if moved.size > PATCH_LIMIT:
            return ExposureRanking.of(epoch, interactions)
        quality = self.quality.copy()
        quality[moved] = _quality(interactions[moved])
        leaving = np.zeros(quality.size, dtype=bool)
        leaving[moved] = True
        stay = ~leaving[self.order]
        order, key = self.order[stay], self.key[stay]
        for pos in moved.tolist():
            value = -quality[pos]
            lo = int(np.searchsorted(key, value, side="left"))
            hi = int(np.searchsorted(key, value, side="right"))
            at = lo + int(np.searchsorted(order[lo:hi], pos))  # equal quality: by position
            order, key = np.insert(order, at, pos), np.insert(key, at, value)
        return ExposureRanking._frozen(epoch, quality, order, key)

    def head(self, quantile: float) -> float:
        """The ``quantile`` of quality (linear interpolation between order statistics)."""
        n = self.key.size
        if n == 0:
            return 0.0
        rank = quantile * (n - 1)
        low = int(np.floor(rank))
        high = min(low + 1, n - 1)
        a, b = -float(self.key[n - 1 - low]), -float(self.key[n - 1 - high])  # ascending quality
        return a + (b - a) * (rank - low)

    def band(self, quantile: float) -> np.ndarray:
        """Items with some interactions and quality at most :meth:`head`, best first (a view)."""
        start = int(np.searchsorted(self.key, -self.head(quantile), side="left"))
        stop = int(np.searchsorted(self.key, 0.0, side="left"))
        return self.order[start : max(start, stop)]
