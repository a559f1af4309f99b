"""Reference recommenders computed in the same run.

Every peer trains on binary interactions. Two kinds are run:

- **validation-tuned** peers choose their settings the way tactful does: on a validation
  split carved from the training data only (each validation user's last ``ceil(20 %)``
  training interactions by time, else a seeded random 20 %), over a small grid, best
  NDCG@10 wins; the chosen setting is then refitted on the whole training data;
- **fixed-setting** peers keep one setting each (the figures quoted in SPEC §5), and say so
  in their name.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from tactful.models.ease import fit_linear_item_model
from tactful.models.ranking import top_k_rows
from tactful.models.tuning import dual_ease_scores, validation_split
from tactful.models.weighting import ValueKind

Scorer = Callable[[npt.NDArray[np.int32]], npt.NDArray[np.float32]]
Params = dict[str, Any]
THREADS = min(2, os.cpu_count() or 1)
BATCH = 256


@dataclass(frozen=True)
class PeerData:
    """What a model may learn from: raw training values, their times, the kind of value."""

    matrix: sp.csr_matrix
    times: sp.csr_matrix | None
    kind: ValueKind
    seed: int = 0


@dataclass(frozen=True)
class Fitted:
    """A trained model's scorer, the setting it runs with and, if tuned, its trials."""

    scorer: Scorer
    params: Params = field(default_factory=dict)
    validation_ndcg: float | None = None
    trials: int = 0
    model: Any = None


@dataclass(frozen=True)
class Peer:
    """A named way to train on a split's training data and score a batch of users."""

    name: str
    train: Callable[[PeerData], Fitted]
    kind: str = "fixed"  # "tactful", "tuned" or "fixed"


def binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    out.data = (out.data > 0).astype(np.float32)
    out.eliminate_zeros()
    return out


# ---- the models -----------------------------------------------------------------------


def popularity(x: sp.csr_matrix, params: Params) -> Scorer:
    counts = np.diff(sp.csc_matrix(x).indptr).astype(np.float32)
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


def implicit_als(x: sp.csr_matrix, params: Params) -> Scorer:
    from implicit.cpu.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AlternatingLeastSquares(
            factors=int(params["factors"]),
            regularization=float(params["regularization"]),
            alpha=float(params["alpha"]),
            iterations=int(params.get("iterations", 15)),
            random_state=int(params.get("seed", 0)),
            num_threads=THREADS,
            calculate_training_loss=False,
        )
        model.fit(x, show_progress=False)
    return _implicit_scorer(model, x)


def item_knn(x: sp.csr_matrix, params: Params) -> Scorer:
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model: Any
        if params.get("weighting") == "bm25":
            model = BM25Recommender(
                K=int(params["K"]), K1=float(params["K1"]), B=float(params["B"]), num_threads=THREADS
            )
        else:
            model = CosineRecommender(K=int(params["K"]), num_threads=THREADS)
        model.fit(x, show_progress=False)
    return _implicit_scorer(model, x)


def ease(x: sp.csr_matrix, params: Params) -> Scorer:
    model = fit_linear_item_model(x, float(params["lambda"]), min_support=1, max_items=x.shape[1])
    return lambda users: model.batch_scores(x[users])


def rp3beta_similarity(x: sp.csr_matrix, alpha: float, beta: float, neighbours: int) -> sp.csr_matrix:
    """Item × item RP3beta weights: a 3-step random walk, popularity-discounted, top-k per row.

    ``W_ij = Σ_u P(u|i)^α P(j|u)^α / pop_j^β`` (transition probabilities from the
    row-normalised interaction matrix and its transpose), diagonal removed.
    """
    x = sp.csr_matrix(x, dtype=np.float64)
    n = x.shape[1]
    user_deg = np.asarray(x.sum(axis=1)).ravel()
    item_deg = np.asarray(x.sum(axis=0)).ravel()
    p_ui = sp.csr_matrix(sp.diags(1.0 / np.maximum(user_deg, 1e-12)) @ x)
    p_iu = sp.csr_matrix(sp.diags(1.0 / np.maximum(item_deg, 1e-12)) @ x.T)
    p_ui.data **= alpha
    p_iu.data **= alpha
    discount = np.where(item_deg > 0, np.maximum(item_deg, 1.0) ** -beta, 0.0)
    keep = min(neighbours, n - 1) if n > 1 else 0
    rows, cols, vals = [], [], []
    step = max(1, 4_000_000 // max(n, 1))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        block = np.asarray((p_iu[lo:hi] @ p_ui).todense()) * discount[None, :]
        block[np.arange(hi - lo), np.arange(lo, hi)] = 0.0
        if keep <= 0:
            continue
        top = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
        picked = np.take_along_axis(block, top, axis=1)
        mask = picked > 0
        rows.append(np.repeat(np.arange(lo, hi), keep)[mask.ravel()])
        cols.append(top[mask])
        vals.append(picked[mask])
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n), dtype=np.float32
    )


def rp3beta(x: sp.csr_matrix, params: Params) -> Scorer:
    w = rp3beta_similarity(x, float(params["alpha"]), float(params["beta"]), int(params["K"]))
    return lambda users: np.asarray((x[users] @ w).todense(), dtype=np.float32)


# ---- tuning on a validation split -----------------------------------------------------


def validation_ndcg(
    scorer: Scorer, train: sp.csr_matrix, users: npt.NDArray[np.int64], targets: sp.csr_matrix
) -> float:
    """Mean NDCG@10 of ``scorer``'s top lists for validation ``users`` (train items excluded)."""
    discounts = 1.0 / np.log2(np.arange(2, 12))
    total = 0.0
    for lo in range(0, len(users), BATCH):
        batch = users[lo : lo + BATCH].astype(np.int32)
        ranked = top_k_rows(scorer(batch), sp.csr_matrix(train[batch]), 10)
        rows = np.arange(lo, lo + len(batch))[:, None]
        hits = np.asarray(targets[rows, ranked].todense()) > 0
        ideal = np.cumsum(discounts)[np.minimum(np.diff(targets.indptr)[lo : lo + len(batch)], 10) - 1]
        total += float(((hits * discounts).sum(axis=1) / ideal).sum())
    return total / max(len(users), 1)


def _validation(data: PeerData) -> tuple[sp.csr_matrix, npt.NDArray[np.int64], sp.csr_matrix]:
    """Binary validation training rows, validation users and their target matrix."""
    split = validation_split(data.matrix, data.times, data.kind, data.seed)
    x = binary(split.train)
    rows = np.repeat(np.arange(len(split.targets)), [len(t) for t in split.targets])
    cols = np.concatenate(split.targets) if split.targets else np.zeros(0, np.int32)
    targets = sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(split.targets), x.shape[1]))
    return x, split.users, targets


def tune_on_validation(
    data: PeerData,
    grid: Iterable[Params],
    fit: Callable[[sp.csr_matrix, Params], Scorer],
) -> tuple[Params, float, int]:
    """The grid point with the best validation NDCG@10 (first wins ties), its score, trials."""
    x, users, targets = _validation(data)
    best: tuple[Params, float] | None = None
    trials = 0
    for params in grid:
        trials += 1
        score = validation_ndcg(fit(x, params), x, users, targets) if len(users) else 0.0
        if best is None or score > best[1]:
            best = (dict(params), score)
    if best is None:
        raise ValueError("empty grid")
    return best[0], best[1], trials


def _ease_train(data: PeerData) -> Fitted:
    """EASE over a λ grid: every λ's validation scores from one eigendecomposition (dual)."""
    x, users, targets = _validation(data)
    lams = [float(p["lambda"]) for p in EASE_GRID]
    best = (lams[0], -1.0)
    if len(users):
        queries = sp.csr_matrix(x[users])
        for lam, scores in zip(lams, dual_ease_scores(x, queries, lams), strict=True):
            fixed = lambda batch, s=scores, pos={int(u): i for i, u in enumerate(users)}: s[  # noqa: E731
                [pos[int(u)] for u in batch]
            ]
            score = validation_ndcg(fixed, x, users, targets)
            if score > best[1]:
                best = (lam, score)
    params = {"lambda": best[0]}
    return Fitted(ease(binary(data.matrix), params), params, max(best[1], 0.0), len(lams))


def tuned_peer(name: str, grid: list[Params], fit: Callable[[sp.csr_matrix, Params], Scorer]) -> Peer:
    """A peer whose setting is chosen on a validation split, then refitted on all training data."""

    def train(data: PeerData) -> Fitted:
        params, score, trials = tune_on_validation(data, [{**p, "seed": data.seed} for p in grid], fit)
        return Fitted(fit(binary(data.matrix), params), _shown(params), score, trials)

    return Peer(name, train, "tuned")


def fixed_peer(name: str, params: Params, fit: Callable[[sp.csr_matrix, Params], Scorer]) -> Peer:
    def train(data: PeerData) -> Fitted:
        return Fitted(fit(binary(data.matrix), {**params, "seed": data.seed}), dict(params))

    return Peer(name, train, "fixed")


def _shown(params: Params) -> Params:
    return {k: v for k, v in params.items() if k != "seed"}


EASE_GRID = [{"lambda": lam} for lam in (25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0)]
ALS_GRID = [
    {"factors": f, "regularization": r, "alpha": a}
    for f in (32, 64, 128)
    for r in (0.1, 3.0)
    for a in (1.0, 8.0)
]
COSINE_GRID = [{"weighting": "cosine", "K": k} for k in (20, 50, 100, 200, 400)]
BM25_GRID = [
    {"weighting": "bm25", "K": k, "K1": k1, "B": 0.75} for k in (50, 100, 200, 400) for k1 in (0.6, 1.2)
]
RP3_GRID = [{"alpha": a, "beta": b, "K": 200} for a in (0.5, 1.0) for b in (0.0, 0.3, 0.6)]

TUNED_PEERS: tuple[Peer, ...] = (
    tuned_peer("popularity", [{}], popularity),
    Peer("EASE (validation-tuned λ)", _ease_train, "tuned"),
    tuned_peer("implicit ALS (validation-tuned factors, reg, α)", ALS_GRID, implicit_als),
    tuned_peer("item-kNN cosine (validation-tuned K)", COSINE_GRID, item_knn),
    tuned_peer("item-kNN BM25 (validation-tuned K, K1)", BM25_GRID, item_knn),
    tuned_peer("RP3beta (validation-tuned α, β, K)", RP3_GRID, rp3beta),
)

FIXED_PEERS: tuple[Peer, ...] = (
    fixed_peer("EASE λ=500 (fixed)", {"lambda": 500.0}, ease),
    fixed_peer(
        "implicit ALS 64 factors, reg 0.05, α 2 (fixed)",
        {"factors": 64, "regularization": 0.05, "alpha": 2.0},
        implicit_als,
    ),
    fixed_peer("item-kNN cosine K=100 (fixed)", {"weighting": "cosine", "K": 100}, item_knn),
)

PEERS: tuple[Peer, ...] = TUNED_PEERS + FIXED_PEERS
