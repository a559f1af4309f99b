"""Hyper-parameter choice on a validation split carved from the training data only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg as la
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from tactful.models.als import FactorModel
from tactful.models.ease import supported_items
from tactful.models.item_knn import fit_item_neighbours
from tactful.models.ranking import top_k_rows
from tactful.models.sequence import fit_sequence_model, recent_matrix
from tactful.models.user_knn import fit_user_neighbours
from tactful.models.weighting import SignalWeighting, ValueKind, candidate_weightings, recency_matrix

REGULARIZATION_RATIOS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
MAX_VALIDATION_USERS = 2000
MAX_QUERY_USERS = 1000
FACTOR_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
POPULARITY_WEIGHTS = (0.0, 0.1)
TIE = 0.005
HALF_LIVES = (10.0, 40.0, 160.0)  # recency half-lives tried (ratings, counts), in interactions
SEQUENCE_WINDOWS = (10, 30)  # steps ahead that count as "followed by"
SEQUENCE_RECENT = ((20, 0.8), (20, 0.9))  # (most recent items read, decay per step back)
SEQUENCE_WEIGHTS = (0.25, 0.5, 1.0)
USER_NEIGHBOURS = (20, 50, 100)  # nearest people who vote
USER_POWERS = (1.0, 2.0)  # a vote counts similarity ** power
USER_WEIGHTS = (0.25, 0.5, 1.0, 2.0)  # 1 first, for every shape; the rest for the best shape
MAX_NEIGHBOUR_USERS = 50_000  # more stored people than this: the user component is not tried


@dataclass(frozen=True)
class ValidationSplit:
    """Training rows (raw values) and held-out targets of the validation users."""

    train: sp.csr_matrix
    users: npt.NDArray[np.int64]
    targets: tuple[npt.NDArray[np.int32], ...]
    times: sp.csr_matrix | None = None  # timestamps of ``train`` (same sparsity), if known


@dataclass(frozen=True)
class TunedParams:
    """What validation chose; ``regularization_ratio`` multiplies the mean Gram diagonal."""

    weighting: SignalWeighting
    regularization_ratio: float | None
    factor_weight: float
    factor_binary: bool
    popularity_weight: float
    ndcg: float
    trials: dict[str, float] = field(default_factory=dict)
    sequence: SequenceChoice | None = None
    users: UserChoice | None = None


@dataclass(frozen=True)
class SequenceChoice:
    """The transition component validation kept: its blend weight and shape."""

    weight: float
    window: int
    last: int
    decay: float


@dataclass(frozen=True)
class UserChoice:
    """The user-neighbourhood component validation kept: its blend weight and shape."""

    weight: float
    neighbours: int
    power: float


def validation_split(
    matrix: sp.csr_matrix,
    times: sp.csr_matrix | None,
    kind: ValueKind,
    seed: int = 0,
    max_users: int = MAX_VALIDATION_USERS,
) -> ValidationSplit:
    """Last ceil(20 %) per user (≥ 5 interactions) by time, else a seeded random 20 %.

    ``times`` has the sparsity of ``matrix``; at most ``max_users`` users are sampled.
    """
    rng = np.random.default_rng(seed)
    rows = np.arange(matrix.shape[0])
    if len(rows) > max_users:
        rows = np.sort(rng.choice(rows, max_users, replace=False))
    sub = sp.csr_matrix(matrix[rows], dtype=np.float32)
    sub.sort_indices()
    stamps = None if times is None else sp.csr_matrix(times[rows], dtype=np.float64)
    if stamps is not None:
        stamps.sort_indices()
    n = sub.nnz
    owner = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
    key = stamps.data if stamps is not None else rng.random(n)
    order = np.lexsort((np.arange(n), key, owner))
    counts = np.diff(sub.indptr)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - sub.indptr[owner[order]]
    per_user = counts[owner]
    held = (per_user >= 5) & (rank >= per_user - (per_user + 4) // 5)
    threshold = 0.8 * float(sub.data.max()) if kind == "rating" and n else -np.inf
    is_target = held & (sub.data >= threshold)
    keep = ~held & (sub.data != 0)
    coords = (owner[keep], sub.indices[keep])
    train = sp.csr_matrix((sub.data[keep], coords), shape=sub.shape, dtype=np.float32)
    train_times = None
    if stamps is not None:
        train_times = sp.csr_matrix((stamps.data[keep], coords), shape=sub.shape, dtype=np.float64)
    users = np.unique(owner[is_target])
    if len(users) > MAX_QUERY_USERS:
        users = np.sort(rng.choice(users, MAX_QUERY_USERS, replace=False))
    targets = tuple(sub.indices[is_target & (owner == u)].astype(np.int32) for u in users)
    return ValidationSplit(train, users.astype(np.int64), targets, train_times)


def mean_gram_diagonal(weights: sp.csr_matrix, items: npt.NDArray[np.int32]) -> float:
    """Average squared column norm of the modelled items: the scale λ is relative to."""
    if len(items) == 0:
        return 1.0
    sub = weights[:, items]
    return max(float(sub.multiply(sub).sum()) / len(items), 1e-6)


def dual_ease_scores(
    train: sp.csr_matrix, queries: sp.csr_matrix, regularizations: list[float]
) -> Iterator[npt.NDArray[np.float32]]:
    """EASE rankings for query rows via the users × users dual (cheap when users < items).

    Uses ``(XᵀX + λI)⁻¹ = (I − Xᵀ(XXᵀ + λI)⁻¹X)/λ`` with one eigendecomposition
    ``XXᵀ = VΛVᵀ`` shared by every λ; scores equal ``q·B`` off the history items.
    """
    x = sp.csr_matrix(train, dtype=np.float64)
    kernel = np.asarray((x @ x.T).todense())
    with threadpool_limits(limits=1, user_api="blas"):
        eigvals, eigvecs = la.eigh(kernel, driver="evd", check_finite=False)
    eigvals = np.maximum(eigvals, 0.0)
    projected = np.asarray((x.T @ eigvecs).T, dtype=np.float32)
    squared = projected * projected
    cross = np.asarray((sp.csr_matrix(queries, dtype=np.float64) @ x.T) @ eigvecs)
    q_dense = queries.toarray().astype(np.float32)
    for lam in regularizations:
        inverse = (1.0 / (eigvals + lam)).astype(np.float32)
        diag = np.maximum(1.0 - inverse @ squared, 1e-12)
        product = (cross * inverse).astype(np.float32) @ projected
        yield (product - q_dense) / diag


def validation_metrics(
    scores: npt.NDArray[np.float32], exclude: sp.csr_matrix, targets: sp.csr_matrix
) -> tuple[float, float]:
    """Mean NDCG@10 and catalog coverage@10 of the validation rankings."""
    ranked = top_k_rows(scores, exclude, 10)
    rows = np.arange(ranked.shape[0])[:, None]
    hits = np.asarray(targets[rows, ranked].todense()) > 0
    discounts = 1.0 / np.log2(np.arange(2, 12))
    ideal = np.cumsum(discounts)[np.minimum(np.diff(targets.indptr), 10) - 1]
    ndcg = float(np.mean((hits * discounts).sum(axis=1) / ideal))
    return ndcg, len(np.unique(ranked)) / scores.shape[1]


def standardise_rows(scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Per-row z-scores, the common scale on which components are blended."""
    std = scores.std(axis=1, keepdims=True)
    return ((scores - scores.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1)).astype(np.float32)


class _Selection:
    """Best trial by NDCG; near-ties (within ``TIE``) go to the wider catalog coverage."""

    def __init__(self) -> None:
        self.trials: dict[str, tuple[float, float]] = {}
        self.best: tuple[str, float, float, Any] | None = None

    def offer(self, name: str, ndcg: float, coverage: float, choice: Any) -> None:
        self.trials[name] = (round(ndcg, 5), round(coverage, 5))
        if self.best is None:
            self.best = (name, ndcg, coverage, choice)
            return
        _, best_ndcg, best_cov, _ = self.best
        better = ndcg > best_ndcg * (1 + TIE) or (ndcg >= best_ndcg * (1 - TIE) and coverage > best_cov)
        if better:
            self.best = (name, ndcg, coverage, choice)


def _item_model_trials(
    split: ValidationSplit,
    weighting: SignalWeighting,
    min_support: int,
    max_items: int,
    neighbours: int,
) -> Iterator[tuple[str, float | None, npt.NDArray[np.float32]]]:
    """Validation scores of the item model: EASE per λ ratio, or item-kNN when too wide."""
    weights = weighting.matrix(split.train)
    n_items = weights.shape[1]
    queries = sp.csr_matrix(weights[split.users])
    if n_items > max_items:
        knn = fit_item_neighbours(weights, neighbours)
        yield f"knn/{weighting.transform}/{weighting.offset}", None, knn.batch_scores(queries)
        return
    items = supported_items(weights, min_support, max_items)
    if len(items) < 20:
        return
    scale = mean_gram_diagonal(weights, items)
    lams = [scale * r for r in REGULARIZATION_RATIOS]
    local = sp.csr_matrix(weights[:, items])
    for ratio, local_scores in zip(
        REGULARIZATION_RATIOS,
        dual_ease_scores(local, sp.csr_matrix(queries[:, items]), lams),
        strict=True,
    ):
        scores = np.zeros((queries.shape[0], n_items), dtype=np.float32)
        scores[:, items] = local_scores
        yield f"ease/{weighting.transform}/{weighting.offset}/{ratio}", ratio, scores


def _item_scores(
    split: ValidationSplit,
    weighting: SignalWeighting,
    ratio: float | None,
    min_support: int,
    max_items: int,
    neighbours: int,
    query_sets: list[sp.csr_matrix],
) -> list[npt.NDArray[np.float32]]:
    """The chosen item model's validation scores for several weightings of the query rows."""
    weights = weighting.matrix(split.train)
    n_items = weights.shape[1]
    stacked = sp.csr_matrix(sp.vstack(query_sets))
    if ratio is None:
        knn = fit_item_neighbours(weights, neighbours)
        scores = knn.batch_scores(stacked)
    else:
        items = supported_items(weights, min_support, max_items)
        lam = ratio * mean_gram_diagonal(weights, items)
        local = next(
            dual_ease_scores(sp.csr_matrix(weights[:, items]), sp.csr_matrix(stacked[:, items]), [lam])
        )
        scores = np.zeros((stacked.shape[0], n_items), dtype=np.float32)
        scores[:, items] = local
    bounds = np.cumsum([0, *(q.shape[0] for q in query_sets)])
    return [scores[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def tune(
    matrix: sp.csr_matrix,
    times: sp.csr_matrix | None,
    kind: ValueKind,
    min_support: int,
    max_items: int,
    neighbours: int,
    fit_factors: Callable[[sp.csr_matrix], FactorModel],
    seed: int = 0,
    max_user_rows: int = MAX_NEIGHBOUR_USERS,
) -> TunedParams | None:
    """Grid over value transforms and λ ratios, then the transition, user-neighbourhood,
    ALS and popularity blend weights, each stage on top of what the earlier ones kept.

    The user-neighbourhood stage runs only when ``matrix`` has at most ``max_user_rows``
    people (the component stores every history).

    ``None`` when the validation split has too few users to judge.
    """
    split = validation_split(matrix, times, kind, seed)
    if len(split.users) < 10:
        return None
    exclude = sp.csr_matrix(split.train[split.users])
    targets = _target_matrix(split.targets, matrix.shape[1])
    chosen = _Selection()
    best_scores = np.zeros(0, dtype=np.float32)
    for weighting in candidate_weightings(kind, matrix.data):
        for name, ratio, scores in _item_model_trials(split, weighting, min_support, max_items, neighbours):
            chosen.offer(name, *validation_metrics(scores, exclude, targets), (weighting, ratio))
            if chosen.best is not None and chosen.best[0] == name:
                best_scores = scores
    if chosen.best is None:
        return None
    weighting, ratio = chosen.best[3]
    queries = sp.csr_matrix(weighting.matrix(split.train)[split.users])
    # signal weights ("weight") already decay with time before they reach the model (the
    # engine's provenance half-lives), and a rank-based recency on top would move every
    # weight of a history on each new signal, defeating the incremental fold
    if split.times is not None and kind != "weight" and len(split.users):
        base_name = chosen.best[0]
        stamps = sp.csr_matrix(split.times[split.users])
        variants = [(h, sp.csr_matrix(queries.multiply(recency_matrix(stamps, h)))) for h in HALF_LIVES]
        recency_scores = _item_scores(
            split, weighting, ratio, min_support, max_items, neighbours, [q for _, q in variants]
        )
        for (h, rows), scores in zip(variants, recency_scores, strict=True):
            name = f"{base_name}/half_life={h}"
            chosen.offer(
                name, *validation_metrics(scores, exclude, targets), (weighting.with_half_life(h), ratio)
            )
            if chosen.best[0] == name:
                best_scores, queries = scores, rows
        weighting = chosen.best[3][0]
    item_z = standardise_rows(best_scores)
    del best_scores
    sequence: SequenceChoice | None = None
    if split.times is not None and kind != "weight" and len(split.users):
        item_name = chosen.best[0]
        for shape, seq_z in _sequence_trials(split):
            name = f"sequence/{shape.window}/{shape.last}/{shape.decay}"
            for s_weight in SEQUENCE_WEIGHTS:
                trial = replace(shape, weight=s_weight)
                scores = item_z + np.float32(s_weight) * seq_z
                chosen.offer(f"{name}/{s_weight}", *validation_metrics(scores, exclude, targets), trial)
                if chosen.best[0] == f"{name}/{s_weight}":
                    sequence, best_base = trial, scores
        if chosen.best[0] != item_name and sequence is not None:
            item_z = best_base
        else:
            sequence = None
    weights = weighting.matrix(split.train)
    users: UserChoice | None = None
    if matrix.shape[0] <= max_user_rows and len(split.users):
        base_name = chosen.best[0]
        for user_trial, scores, metrics in _user_trials(weights, queries, item_z, exclude, targets):
            name = f"users/{user_trial.neighbours}/{user_trial.power}/{user_trial.weight}"
            chosen.offer(name, *metrics, user_trial)
            if chosen.best[0] == name:
                users, best_base = user_trial, scores
        if chosen.best[0] != base_name and users is not None:
            item_z = best_base
        else:
            users = None
    popularity = np.log1p(np.diff(sp.csc_matrix(weights).indptr).astype(np.float32))
    pop_z = standardise_rows(popularity[None, :])
    for binary in (False, True):
        inputs = weights.copy()
        if binary:
            inputs.data = (inputs.data > 0).astype(np.float32)
        rows = queries.copy()
        if binary:
            rows.data = (rows.data > 0).astype(np.float32)
        factor_z = _factor_scores(fit_factors(inputs), rows)
        for f_weight in FACTOR_WEIGHTS:
            for p_weight in POPULARITY_WEIGHTS:
                if f_weight == 0 and (p_weight == 0 or binary):
                    continue
                blended = item_z + f_weight * factor_z + p_weight * pop_z
                choice = (weighting, ratio, f_weight, p_weight, binary)
                metrics = validation_metrics(blended, exclude, targets)
                chosen.offer(f"blend/{f_weight}/{p_weight}/binary={binary}", *metrics, choice)
    name, ndcg, _, choice = chosen.best
    stage = name.split("/")[0]
    f_weight, p_weight, binary = choice[2:] if stage == "blend" else (0.0, 0.0, False)
    if stage not in ("blend", "sequence", "users"):
        sequence = None
    if stage not in ("blend", "users"):
        users = None
    trials = {k: v[0] for k, v in chosen.trials.items()}
    return TunedParams(weighting, ratio, f_weight, binary, p_weight, ndcg, trials, sequence, users)


def _user_trials(
    weights: sp.csr_matrix,
    queries: sp.csr_matrix,
    base: npt.NDArray[np.float32],
    exclude: sp.csr_matrix,
    targets: sp.csr_matrix,
) -> Iterator[tuple[UserChoice, npt.NDArray[np.float32], tuple[float, float]]]:
    """The user-neighbourhood blends to validate, with their validation metrics: every
    shape at weight 1, then the other weights for the shape that did best there (``base``:
    the standardised scores so far).

    The validation users' own (truncated) training rows are among the stored people; their
    cosine with the query is 1, so the component skips them as it does when serving.
    """
    stored = fit_user_neighbours(weights)
    sims = stored.batch_similarities(queries)
    shaped: list[tuple[float, UserChoice, npt.NDArray[np.float32]]] = []
    for neighbours in USER_NEIGHBOURS:
        for power in USER_POWERS:
            shape = replace(stored, neighbours=neighbours, power=power)
            user_z = standardise_rows(shape.batch_scores(queries, sims))
            choice = UserChoice(1.0, neighbours, power)
            scores = base + user_z
            metrics = validation_metrics(scores, exclude, targets)
            yield choice, scores, metrics
            shaped.append((metrics[0], choice, user_z))
    _, best, user_z = max(shaped, key=lambda t: t[0])
    for u_weight in USER_WEIGHTS:
        if u_weight != best.weight:
            scores = base + np.float32(u_weight) * user_z
            yield replace(best, weight=u_weight), scores, validation_metrics(scores, exclude, targets)


def _sequence_trials(split: ValidationSplit) -> Iterator[tuple[SequenceChoice, npt.NDArray[np.float32]]]:
    """Standardised transition scores of the validation users for each window and recency."""
    assert split.times is not None
    stamps = sp.csr_matrix(split.times[split.users])
    for window in SEQUENCE_WINDOWS:
        model = fit_sequence_model(split.times, window)
        for last, decay in SEQUENCE_RECENT:
            rows = recent_matrix(stamps, last, decay)
            yield SequenceChoice(0.0, window, last, decay), standardise_rows(model.batch_scores(rows))


def _factor_scores(factors: FactorModel, rows: sp.csr_matrix) -> npt.NDArray[np.float32]:
    """Standardised ALS scores of each row after a fold-in (as served)."""
    vectors = np.vstack(
        [
            factors.fold_in(rows.indices[lo:hi], rows.data[lo:hi])
            for lo, hi in zip(rows.indptr[:-1], rows.indptr[1:], strict=True)
        ]
    )
    return standardise_rows(vectors @ factors.item_factors.T)


def _target_matrix(targets: tuple[npt.NDArray[np.int32], ...], n_items: int) -> sp.csr_matrix:
    rows = np.repeat(np.arange(len(targets)), [len(t) for t in targets])
    cols = np.concatenate(targets) if targets else np.zeros(0, np.int32)
    return sp.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(targets), n_items))
