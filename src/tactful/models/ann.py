"""Approximate inner-product retrieval over item factors (hnswlib), for catalogs > ~50k.

Maximum inner product search is reduced to Euclidean search by appending one coordinate
``sqrt(M² − |y|²)`` to every item vector (``M``: the largest norm) and 0 to the query:
``|q − y'|² = |q|² + M² − 2 q·y``, so the nearest items are the best-scoring ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tactful.extras import require
from tactful.models.ranking import top_k

ANN_MIN_ITEMS = 50_000


@dataclass
class ItemIndex:
    """An HNSW index over item vectors; ``search`` returns candidates best first."""

    index: Any
    n_items: int
    ef: int

    def search(
        self, vector: npt.NDArray[np.floating], k: int, exclude: npt.NDArray[np.integer] | None = None
    ) -> npt.NDArray[np.int64]:
        """Top ``k`` items by inner product, skipping ``exclude`` (over-fetches to fill k)."""
        banned = set() if exclude is None else {int(i) for i in exclude}
        want = min(self.n_items, k + len(banned))
        self.index.set_ef(max(self.ef, want))
        query = np.append(np.asarray(vector, np.float32), np.float32(0.0))[None, :]
        labels, _ = self.index.knn_query(query, k=want)
        found = [int(i) for i in labels[0] if int(i) not in banned]
        return np.array(found[:k], dtype=np.int64)


def build_item_index(
    item_factors: npt.NDArray[np.floating],
    ef_construction: int = 200,
    m: int = 32,
    ef: int = 300,
    seed: int = 0,
    threads: int = 2,
) -> ItemIndex:
    """Build an HNSW graph whose nearest neighbours are the best inner products."""
    hnswlib = require("hnswlib", "ann", "the approximate (HNSW) item index")
    items = np.asarray(item_factors, dtype=np.float64)
    norms = np.einsum("ij,ij->i", items, items)
    extra = np.sqrt(np.maximum(norms.max(initial=0.0) - norms, 0.0))
    vectors = np.ascontiguousarray(np.column_stack([items, extra]), dtype=np.float32)
    index = hnswlib.Index(space="l2", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), ef_construction=ef_construction, M=m, random_seed=seed)
    index.set_num_threads(threads)
    index.add_items(vectors, np.arange(len(vectors)))
    index.set_ef(ef)
    return ItemIndex(index, len(vectors), ef)


def exact_top_k(
    item_factors: npt.NDArray[np.floating], vector: npt.NDArray[np.floating], k: int
) -> npt.NDArray[np.int64]:
    """The exact inner-product top ``k``: the floor any retrieval is compared with."""
    return top_k(np.asarray(item_factors @ vector), k)


def recall_against_exact(
    index: ItemIndex,
    item_factors: npt.NDArray[np.floating],
    queries: npt.NDArray[np.floating],
    k: int = 10,
) -> float:
    """Mean share of the exact top-``k`` that the ANN search returns."""
    if len(queries) == 0:
        return 0.0
    shares = [len(np.intersect1d(index.search(q, k), exact_top_k(item_factors, q, k))) / k for q in queries]
    return float(np.mean(shares))
