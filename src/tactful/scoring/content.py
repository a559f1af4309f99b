"""Tag content: items whose tags match the person's interests (works for cold items)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from tactful.scoring.context import ScoringContext, normalized


class ContentScorer:
    name = "content"

    def score(self, ctx: ScoringContext) -> np.ndarray | None:
        if not np.any(ctx.tag_vector):
            return None
        # the float64 copy: what scipy would upcast ``item_tag_norm`` to on every call
        return normalized(np.asarray(ctx.catalog.derived.item_tag_norm64 @ ctx.tag_vector).ravel())


def tag_similarity(item_tag_norm: sp.csr_matrix, pos: int) -> np.ndarray:
    """Cosine similarity over tags between item ``pos`` and every item."""
    return np.asarray((item_tag_norm @ item_tag_norm[pos].T).toarray()).ravel()
