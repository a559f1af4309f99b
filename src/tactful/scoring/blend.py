"""Blending scorer outputs with weights chosen by the person's engagement level (P5)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Blend:
    """The blended score and each component's weighted contribution (for explanations)."""

    total: np.ndarray
    parts: dict[str, np.ndarray]


def blend(components: Mapping[str, np.ndarray | None], weights: Mapping[str, float], size: int) -> Blend:
    """Weighted sum of the components that have something to say.

    Weights of silent components (None) are dropped rather than redistributed, so a new
    person gets exactly the general-content mix configured for them.
    """
    total = np.zeros(size)
    parts: dict[str, np.ndarray] = {}
    for name, scores in components.items():
        weight = weights.get(name, 0.0)
        if scores is None or weight == 0.0:
            continue
        part = weight * scores
        parts[name] = part
        total += part
    return Blend(total=total, parts=parts)
