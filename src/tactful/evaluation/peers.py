"""Reference recommenders computed in the same run: popularity, ALS, item-kNN, EASE."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from tactful.models.ease import fit_linear_item_model

Scorer = Callable[[npt.NDArray[np.int32]], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class Peer:
    """A named way to train on binary interactions and score a batch of users."""

    name: str
    train: Callable[[sp.csr_matrix], Scorer]


def binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    out.data[:] = 1.0
    return out


def popularity(matrix: sp.csr_matrix) -> Scorer:
    counts = np.diff(sp.csc_matrix(binary(matrix)).indptr).astype(np.float32)
    return lambda users: np.tile(counts, (len(users), 1))


def _implicit_scorer(model: object, matrix: sp.csr_matrix) -> Scorer:
    def scorer(users: npt.NDArray[np.int32]) -> npt.NDArray[np.float32]:
        ids, scores = model.recommend(  # type: ignore[attr-defined]
            users, matrix[users], N=matrix.shape[1], filter_already_liked_items=False
        )
        out = np.full((len(users), matrix.shape[1]), -np.inf, dtype=np.float32)
        np.put_along_axis(out, np.asarray(ids), np.asarray(scores, np.float32), axis=1)
        return out

    return scorer


def implicit_als(matrix: sp.csr_matrix) -> Scorer:
    from implicit.cpu.als import AlternatingLeastSquares

    x = binary(matrix)
    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AlternatingLeastSquares(
            factors=64,
            regularization=0.05,
            alpha=2.0,
            iterations=15,
            random_state=0,
            num_threads=min(2, os.cpu_count() or 1),
        )
        model.fit(x, show_progress=False)
    return _implicit_scorer(model, x)


def implicit_item_knn(matrix: sp.csr_matrix) -> Scorer:
    from implicit.nearest_neighbours import CosineRecommender

    x = binary(matrix)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CosineRecommender(K=100, num_threads=min(2, os.cpu_count() or 1))
        model.fit(x, show_progress=False)
    return _implicit_scorer(model, x)


def ease_reference(matrix: sp.csr_matrix, regularization: float = 500.0) -> Scorer:
    x = binary(matrix)
    model = fit_linear_item_model(x, regularization, min_support=1, max_items=x.shape[1])
    return lambda users: model.batch_scores(x[users])


PEERS: tuple[Peer, ...] = (
    Peer("popularity", popularity),
    Peer("implicit-als", implicit_als),
    Peer("implicit-item-knn", implicit_item_knn),
    Peer("ease-500", ease_reference),
)
