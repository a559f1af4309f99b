"""What a scorer sees about one request: the catalog and the person's current signals."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tactful.index.catalog import CatalogIndex


@dataclass(frozen=True)
class ScoringContext:
    """Plain arrays only, so scorers stay pure and testable.

    ``tag_vector`` holds the person's decayed interest per catalog tag (consented provenances
    only); ``item_positions``/``item_weights`` the decayed affinity per catalog item and
    ``item_times`` when it was last engaged with.
    """

    catalog: CatalogIndex
    now: float
    tag_vector: np.ndarray
    item_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    item_weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    item_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    person_id: str = ""  # lets a scorer keep per-person state between requests ("" = anonymous)
