"""What a scorer sees about one request: the catalog and the person's current signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tactful.index.context import ScoringContext


class Scorer(Protocol):
    """A component that scores every catalog item for one request (higher is better)."""

    name: str

    def score(self, ctx: ScoringContext) -> np.ndarray | None:
        """Scores over the whole catalog, or None when it has nothing to say."""
        ...


def normalized(scores: np.ndarray) -> np.ndarray:
    """Scale to at most 1 in absolute value, keeping sign (so negatives still demote)."""
    peak = float(np.max(np.abs(scores))) if scores.size else 0.0
    return scores / peak if peak > 0 else np.zeros_like(scores)


@dataclass(frozen=True)
class PeakScaled:
    """Non-negative raw scores and the same :func:`normalized` (divided by their peak).

    Memoized catalog-wide scores change a few items at a time (an ingest bumps a few
    counters); :meth:`patched` updates just those, bit for bit what rescaling all would give,
    as long as the peak stays where it is.
    """

    raw: np.ndarray
    peak: float
    scores: np.ndarray

    @classmethod
    def of(cls, raw: np.ndarray) -> PeakScaled:
        peak = float(np.max(np.abs(raw))) if raw.size else 0.0
        return cls(raw, peak, raw / peak if peak > 0 else np.zeros_like(raw))

    def patched(self, positions: np.ndarray, values: np.ndarray) -> PeakScaled | None:
        """With ``raw[positions] = values``; None when that could move the peak (rescale all)."""
        if positions.size == 0:
            return self
        if self.peak <= 0 or float(values.min()) < 0 or float(values.max()) > self.peak:
            return None
        if float(self.raw[positions].max()) >= self.peak or float(self.raw.min()) < 0:
            return None
        raw, scores = self.raw.copy(), self.scores.copy()
        raw[positions] = values
        scores[positions] = values / self.peak
        return PeakScaled(raw, self.peak, scores)
