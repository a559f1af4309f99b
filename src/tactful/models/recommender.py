"""tactful's default recommender: value-weighted EASE (or item-kNN) blended with ALS."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tactful.errors import ValidationError
from tactful.models.als import FactorModel, fit_factor_model
from tactful.models.ann import ItemIndex, build_item_index
from tactful.models.artifact import ModelArtifact
from tactful.models.ease import LinearItemModel, fit_linear_item_model, supported_items
from tactful.models.history_fold import HistoryFold, fold_history
from tactful.models.item_knn import ItemNeighbours, fit_item_neighbours
from tactful.models.ranking import top_k
from tactful.models.sequence import SequenceModel, fit_sequence_model
from tactful.models.tuning import MAX_NEIGHBOUR_USERS, mean_gram_diagonal, tune
from tactful.models.user_knn import UserNeighbours, fit_user_neighbours
from tactful.models.weighting import (
    SignalWeighting,
    ValueKind,
    default_weighting,
    detect_value_kind,
)

Scores = npt.NDArray[np.float32]
CANDIDATES = 500


@dataclass(frozen=True)
class RecommenderConfig:
    """Hyper-parameters; ``tune`` re-chooses weighting, λ and blend on a validation split.

    ``weighting=None`` means the default for the value kind (see ``default_weighting``).
    """

    value_kind: ValueKind | Literal["auto"] = "auto"
    tune: bool = True
    weighting: SignalWeighting | None = None
    regularization_ratio: float = 8.0
    min_support: int = 2
    max_dense_items: int = 20_000
    neighbours: int = 100
    factors: int = 64
    factor_iterations: int = 15
    factor_regularization: float = 0.05
    factor_alpha: float = 2.0
    factor_weight: float = 0.0
    factor_binary: bool = False
    popularity_weight: float = 0.0
    sequence_weight: float = 0.0
    sequence_window: int = 30
    sequence_last: int = 20
    sequence_decay: float = 0.9
    user_weight: float = 0.0
    user_neighbours: int = 50
    user_power: float = 1.0
    max_user_rows: int = MAX_NEIGHBOUR_USERS
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["weighting"] = None if self.weighting is None else self.weighting.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecommenderConfig:
        values = dict(data)
        if values.get("weighting") is not None:
            values["weighting"] = SignalWeighting.from_dict(values["weighting"])
        return cls(**values)

    @property
    def signal_weighting(self) -> SignalWeighting:
        """The weighting in force (identity until :meth:`Recommender.fit` resolves it)."""
        return self.weighting or SignalWeighting("identity")


class Recommender:
    """Scores one person from a sparse weighted history; built by :meth:`fit` or loaded."""

    def __init__(self, artifact: ModelArtifact) -> None:
        self.artifact = artifact
        self.config = RecommenderConfig.from_dict(artifact.params["config"])
        a = artifact.arrays
        n = artifact.n_items
        self.items: LinearItemModel | ItemNeighbours
        if "linear_items" in a:
            self.items = LinearItemModel(n, a["linear_items"], a["linear_weights"])
        else:
            knn = sp.csr_matrix((a["knn_data"], a["knn_indices"], a["knn_indptr"]), shape=(n, n))
            self.items = ItemNeighbours(knn)
        self.factors = FactorModel(
            a["factor_items"],
            a["factor_gramian"],
            float(self.config.factor_alpha),
            float(self.config.factor_regularization),
        )
        self.sequence: SequenceModel | None = None
        if "sequence_indptr" in a and self.config.sequence_weight > 0:
            transitions = sp.csr_matrix(
                (a["sequence_data"], a["sequence_indices"], a["sequence_indptr"]), shape=(n, n)
            )
            self.sequence = SequenceModel(
                transitions, int(self.config.sequence_last), float(self.config.sequence_decay)
            )
        self.users: UserNeighbours | None = None
        if "user_indptr" in a and self.config.user_weight > 0:
            rows = sp.csr_matrix(
                (a["user_data"], a["user_indices"], a["user_indptr"]), shape=(len(a["user_indptr"]) - 1, n)
            )
            self.users = UserNeighbours(
                rows, int(self.config.user_neighbours), float(self.config.user_power)
            ).warm()
        self.popularity: Scores = a["popularity"]
        self._popularity_z = _standardise(np.log1p(self.popularity))
        self._popular = np.argsort(-self.popularity, kind="stable").astype(np.int64)
        self._ann: ItemIndex | None = None
        self._index = {str(item): i for i, item in enumerate(artifact.item_ids)}

    @property
    def item_ids(self) -> npt.NDArray[np.str_]:
        return self.artifact.item_ids

    def index_of(self, item_ids: list[str]) -> npt.NDArray[np.int64]:
        """Catalog positions of item ids (-1 for items the model has not seen)."""
        return np.array([self._index.get(str(i), -1) for i in item_ids], dtype=np.int64)

    @classmethod
    def fit(
        cls,
        matrix: sp.csr_matrix,
        item_ids: list[str] | npt.NDArray[np.str_],
        timestamps: sp.csr_matrix | None = None,
        config: RecommenderConfig | None = None,
    ) -> Recommender:
        """Train every component from a users × items matrix of raw event values.

        ``timestamps``, when given, has the same sparsity as ``matrix``; it makes the
        validation holdout temporal (otherwise a seeded random 20 % per person).
        """
        started = time.perf_counter()
        cfg = config or RecommenderConfig()
        raw = sp.csr_matrix(matrix, dtype=np.float32)
        if raw.shape[1] != len(item_ids):
            raise ValidationError("matrix columns and item ids differ in length", "item_ids")
        raw.sort_indices()
        kind = detect_value_kind(raw.data) if cfg.value_kind == "auto" else cfg.value_kind
        cfg = replace(cfg, value_kind=kind, weighting=cfg.weighting or default_weighting(kind, raw.data))
        extra: dict[str, Any] = {}
        if cfg.tune:
            tuned = tune(
                raw,
                timestamps,
                kind,
                cfg.min_support,
                cfg.max_dense_items,
                cfg.neighbours,
                lambda w: _fit_factors(w, cfg),
                cfg.seed,
                cfg.max_user_rows,
            )
            if tuned is not None:
                cfg = replace(
                    cfg,
                    weighting=tuned.weighting,
                    regularization_ratio=tuned.regularization_ratio or cfg.regularization_ratio,
                    factor_weight=tuned.factor_weight,
                    factor_binary=tuned.factor_binary,
                    popularity_weight=tuned.popularity_weight,
                    sequence_weight=tuned.sequence.weight if tuned.sequence else 0.0,
                    sequence_window=tuned.sequence.window if tuned.sequence else cfg.sequence_window,
                    sequence_last=tuned.sequence.last if tuned.sequence else cfg.sequence_last,
                    sequence_decay=tuned.sequence.decay if tuned.sequence else cfg.sequence_decay,
                    user_weight=tuned.users.weight if tuned.users else 0.0,
                    user_neighbours=tuned.users.neighbours if tuned.users else cfg.user_neighbours,
                    user_power=tuned.users.power if tuned.users else cfg.user_power,
                )
                extra = {"validation_ndcg@10": round(tuned.ndcg, 5), "trials": tuned.trials}
        weights = cfg.signal_weighting.matrix(raw)
        arrays: dict[str, npt.NDArray[Any]] = {}
        if raw.shape[1] <= cfg.max_dense_items:
            items = supported_items(weights, cfg.min_support, cfg.max_dense_items)
            lam = cfg.regularization_ratio * mean_gram_diagonal(weights, items)
            linear = fit_linear_item_model(weights, lam, cfg.min_support, cfg.max_dense_items)
            arrays["linear_items"] = linear.item_index
            arrays["linear_weights"] = linear.weights
            extra["regularization"] = round(lam, 4)
        else:
            knn = fit_item_neighbours(weights, cfg.neighbours).similarity
            arrays.update(knn_data=knn.data, knn_indices=knn.indices, knn_indptr=knn.indptr)
        factors = _fit_factors(_binarise(weights) if cfg.factor_binary else weights, cfg)
        arrays["factor_items"] = factors.item_factors
        arrays["factor_gramian"] = factors.gramian
        arrays["popularity"] = np.diff(sp.csc_matrix(weights).indptr).astype(np.float32)
        if cfg.sequence_weight > 0 and timestamps is not None:
            seq = fit_sequence_model(
                sp.csr_matrix(timestamps), cfg.sequence_window, cfg.sequence_last, cfg.sequence_decay
            ).transitions
            arrays.update(sequence_data=seq.data, sequence_indices=seq.indices, sequence_indptr=seq.indptr)
        else:
            cfg = replace(cfg, sequence_weight=0.0)
        if cfg.user_weight > 0 and raw.shape[0] <= cfg.max_user_rows:
            rows = fit_user_neighbours(weights, cfg.user_neighbours, cfg.user_power).rows
            arrays.update(user_data=rows.data, user_indices=rows.indices, user_indptr=rows.indptr)
        else:
            cfg = replace(cfg, user_weight=0.0)
        artifact = ModelArtifact(
            item_ids=np.asarray(item_ids, dtype=np.str_),
            arrays=arrays,
            params={"config": cfg.to_dict()},
            train_seconds=round(time.perf_counter() - started, 3),
            extra=extra,
        )
        return cls(artifact)

    def _history(
        self,
        indices: npt.NDArray[np.integer],
        values: npt.NDArray[np.floating],
        timestamps: npt.NDArray[np.floating] | None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) != len(values):
            raise ValidationError("indices and values differ in length", field="values")
        if len(idx) and (idx.min() < 0 or idx.max() >= self.artifact.n_items):
            raise ValidationError("item index out of range", field="indices")
        return idx, self.config.signal_weighting.row(np.asarray(values, np.float32), timestamps)

    def factor_values(self, weights: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """What the factor fold-in reads for model weights (their sign only, when so trained)."""
        return (weights > 0).astype(np.float32) if self.config.factor_binary else weights

    def user_vector(
        self,
        indices: npt.NDArray[np.integer],
        values: npt.NDArray[np.floating],
        timestamps: npt.NDArray[np.floating] | None = None,
    ) -> npt.NDArray[np.float32]:
        """The person's ALS vector folded in from their current history (no retraining)."""
        idx, weights = self._history(indices, values, timestamps)
        return self.factors.fold_in(idx, self.factor_values(weights))

    @property
    def _blended(self) -> bool:
        return (
            self.config.factor_weight > 0
            or self.config.popularity_weight > 0
            or self.sequence is not None
            or self.users is not None
        )

    def recent(
        self, indices: npt.NDArray[np.integer], timestamps: npt.NDArray[np.floating] | None
    ) -> npt.NDArray[np.int64] | None:
        """The items the sequence component reads (most recent first), if it runs."""
        if self.sequence is None or timestamps is None or len(timestamps) != len(indices):
            return None
        return self.sequence.recent(np.asarray(indices, dtype=np.int64), timestamps)

    def score(
        self,
        indices: npt.NDArray[np.integer],
        values: npt.NDArray[np.floating],
        timestamps: npt.NDArray[np.floating] | None = None,
    ) -> Scores:
        """Scores over the catalog for one person's history of raw event values."""
        return self.score_fold(self.fold(indices, values, timestamps))

    def fold(
        self,
        indices: npt.NDArray[np.integer],
        values: npt.NDArray[np.floating],
        timestamps: npt.NDArray[np.floating] | None = None,
        previous: HistoryFold | None = None,
        tolerance: float = 0.0,
    ) -> HistoryFold:
        """The history as this model's sums; ``previous`` lets only what changed be applied."""
        idx, weights = self._history(indices, values, timestamps)
        fold = fold_history(self, idx, weights, previous, tolerance)
        recent = self.recent(idx, timestamps)
        same = (fold.recent is None and recent is None) or (
            fold.recent is not None and recent is not None and np.array_equal(fold.recent, recent)
        )
        return fold if same else replace(fold, recent=recent)

    def score_fold(self, fold: HistoryFold) -> Scores:
        """Scores over the catalog for a folded history (see :meth:`fold`)."""
        n = self.artifact.n_items
        if not fold.has_positive:
            return self._popularity_z.copy()
        if not self._blended:
            raw = np.zeros(n, dtype=np.float32)
            raw[fold.support] = fold.part
            return raw
        # standardised item-model scores + weighted standardised factor scores (+ popularity),
        # assembled without materialising and re-scanning the item-model vector
        mean, std = _moments(fold.part, n)
        scale = 1.0 / (std or 1.0)
        shift = -mean * scale
        if self.config.factor_weight > 0 and fold.gram is not None and fold.rhs is not None:
            vector = self.factors.solve(fold.gram, fold.rhs)
            f_mean, f_std = self.factors.score_moments(vector)
            f_scale = self.config.factor_weight / (f_std or 1.0)
            blended = self.factors.item_factors @ (vector * np.float32(f_scale))
            shift -= f_mean * f_scale
        else:
            blended = np.zeros(n, dtype=np.float32)
        blended[fold.support] += fold.part * np.float32(scale)
        if self.sequence is not None and fold.recent is not None and len(fold.recent):
            seq_items, seq_scores = self.sequence.contributions(fold.recent)
            s_mean, s_std = _moments(seq_scores, n)
            s_scale = self.config.sequence_weight / (s_std or 1.0)
            blended[seq_items] += seq_scores * np.float32(s_scale)
            shift -= s_mean * s_scale
        if self.users is not None:
            user_items, user_scores = self.users.contributions(fold.items, fold.weights)
            u_mean, u_std = _moments(user_scores, n)
            u_scale = self.config.user_weight / (u_std or 1.0)
            blended[user_items] += user_scores * np.float32(u_scale)
            shift -= u_mean * u_scale
        if self.config.popularity_weight > 0:
            blended += np.float32(self.config.popularity_weight) * self._popularity_z
        blended += np.float32(shift)
        return blended

    def recommend(
        self,
        indices: npt.NDArray[np.integer],
        values: npt.NDArray[np.floating],
        k: int = 10,
        timestamps: npt.NDArray[np.floating] | None = None,
        exclude: npt.NDArray[np.integer] | None = None,
        approximate: bool = False,
    ) -> tuple[npt.NDArray[np.int64], Scores]:
        """The ``k`` best items not in the history (nor ``exclude``), with their scores.

        ``approximate`` ranks only candidates: the item model's non-zero scores, the ANN
        (HNSW) neighbours of the folded-in vector and the most popular items; scores of
        candidates equal the exact ones. Meant for catalogs of ``ANN_MIN_ITEMS`` or more.
        """
        banned = np.asarray(indices, dtype=np.int64)
        if exclude is not None:
            banned = np.concatenate([banned, np.asarray(exclude, dtype=np.int64)])
        if approximate:
            candidates, cand_scores = self._candidate_scores(indices, values, k, timestamps)
            keep = ~np.isin(candidates, banned)
            order = top_k(cand_scores[keep], k)
            return candidates[keep][order], cand_scores[keep][order]
        scores = self.score(indices, values, timestamps)
        best = top_k(scores, k, banned)
        return best, scores[best]

    def _candidate_scores(
        self,
        indices: npt.NDArray[np.integer],
        values: npt.NDArray[np.floating],
        k: int,
        timestamps: npt.NDArray[np.floating] | None,
    ) -> tuple[npt.NDArray[np.int64], Scores]:
        idx, weights = self._history(indices, values, timestamps)
        popular = self._popular[: k + len(idx)]
        if not np.any(weights > 0):
            return popular, self._popularity_z[popular]
        near, near_scores = self.items.contributions(idx, weights)
        nonzero = near_scores != 0
        near, near_scores = near[nonzero], near_scores[nonzero]
        pool = [popular, near]
        recent = self.recent(idx, timestamps)
        seq_items, seq_scores = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self.sequence is not None and recent is not None and len(recent):
            seq_items, seq_scores = self.sequence.contributions(recent)
            pool.append(seq_items)
        user_items, user_scores = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self.users is not None:
            user_items, user_scores = self.users.contributions(idx, weights)
            pool.append(user_items)
        vector = self.factors.fold_in(idx, self.factor_values(weights))
        if self.config.factor_weight > 0:
            pool.append(self.item_index().search(vector, CANDIDATES + len(idx)))
        candidates = np.unique(np.concatenate(pool))
        raw = np.zeros(len(candidates), dtype=np.float32)
        raw[np.searchsorted(candidates, near)] = near_scores
        if not self._blended:
            return candidates, raw
        mean, std = _moments(near_scores, self.artifact.n_items)
        out = (raw - mean) / (std or 1.0)
        if self.config.factor_weight > 0:
            f_mean, f_std = self.factors.score_moments(vector)
            factor_scores = self.factors.item_factors[candidates] @ vector
            out += self.config.factor_weight * (factor_scores - f_mean) / (f_std or 1.0)
        if self.config.popularity_weight > 0:
            out += self.config.popularity_weight * self._popularity_z[candidates]
        if len(seq_items):
            s_mean, s_std = _moments(seq_scores, self.artifact.n_items)
            seq_part = np.full(len(candidates), -s_mean, dtype=np.float64)
            seq_part[np.searchsorted(candidates, seq_items)] += seq_scores
            out += self.config.sequence_weight * seq_part / (s_std or 1.0)
        if self.users is not None:
            u_mean, u_std = _moments(user_scores, self.artifact.n_items)
            user_part = np.full(len(candidates), -u_mean, dtype=np.float64)
            user_part[np.searchsorted(candidates, user_items)] += user_scores
            out += self.config.user_weight * user_part / (u_std or 1.0)
        return candidates, out.astype(np.float32)

    def item_index(self) -> ItemIndex:
        """The HNSW index over item factors, built on first use."""
        if self._ann is None:
            self._ann = build_item_index(self.factors.item_factors, seed=self.config.seed)
        return self._ann

    def batch_scores(self, matrix: sp.csr_matrix, timestamps: sp.csr_matrix | None = None) -> Scores:
        """Scores for every row of a users × items matrix of raw values (evaluation).

        ``timestamps`` (same sparsity as ``matrix``) feed the recency weighting, as the
        item times of a served history do.
        """
        rows = sp.csr_matrix(matrix, dtype=np.float32)
        rows.sort_indices()
        times = None
        if timestamps is not None:
            times = sp.csr_matrix(timestamps, dtype=np.float64)
            times.sort_indices()
        out = np.empty(rows.shape, dtype=np.float32)
        for r in range(rows.shape[0]):
            lo, hi = rows.indptr[r], rows.indptr[r + 1]
            stamps = None if times is None else times.data[times.indptr[r] : times.indptr[r + 1]]
            out[r] = self.score(rows.indices[lo:hi], rows.data[lo:hi], stamps)
        return out

    def save(self, directory: str | Path) -> Path:
        """Write the artifact atomically (see :meth:`ModelArtifact.save`)."""
        return self.artifact.save(directory)

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        return cls(ModelArtifact.load(directory))


def factor_artifact(
    item_ids: list[str] | npt.NDArray[np.str_],
    item_factors: npt.NDArray[np.floating],
    popularity: npt.NDArray[np.floating],
    config: RecommenderConfig,
    train_seconds: float = 0.0,
    extra: dict[str, Any] | None = None,
) -> ModelArtifact:
    """An artifact whose collaborative part is given item factors alone (no item model):
    what a model trained elsewhere (Spark MLlib) is served as. People are folded in at
    request time against ``YᵀY + λI`` with λ = ``config.factor_regularization``."""
    n = len(item_ids)
    y = np.ascontiguousarray(item_factors, dtype=np.float32)
    if y.ndim != 2 or y.shape[0] != n or len(popularity) != n:
        raise ValidationError("factors and popularity must have one row per item", field="item_factors")
    wide = y.astype(np.float64)
    gramian = wide.T @ wide + config.factor_regularization * np.eye(y.shape[1])
    cfg = replace(config, tune=False, factor_weight=config.factor_weight or 1.0, factors=int(y.shape[1]))
    arrays: dict[str, npt.NDArray[Any]] = {
        "knn_data": np.zeros(0, dtype=np.float32),
        "knn_indices": np.zeros(0, dtype=np.int32),
        "knn_indptr": np.zeros(n + 1, dtype=np.int32),
        "factor_items": y,
        "factor_gramian": gramian,
        "popularity": np.asarray(popularity, dtype=np.float32),
    }
    return ModelArtifact(
        item_ids=np.asarray(item_ids, dtype=np.str_),
        arrays=arrays,
        params={"config": cfg.to_dict()},
        train_seconds=train_seconds,
        extra=dict(extra or {}),
    )


def _fit_factors(weights: sp.csr_matrix, cfg: RecommenderConfig) -> FactorModel:
    return fit_factor_model(
        weights,
        cfg.factors,
        cfg.factor_regularization,
        cfg.factor_alpha,
        cfg.factor_iterations,
        cfg.seed,
    )


def _binarise(weights: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(weights, dtype=np.float32, copy=True)
    out.data = (out.data > 0).astype(np.float32)
    out.eliminate_zeros()
    return out


def _standardise(scores: npt.NDArray[np.floating]) -> Scores:
    s = np.asarray(scores, dtype=np.float32)
    std = float(s.std())
    return ((s - s.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def _moments(part: npt.NDArray[np.floating], n: int) -> tuple[float, float]:
    """Mean and standard deviation over ``n`` scores of which ``part`` holds every non-zero one."""
    values = np.asarray(part, dtype=np.float64)
    mean = float(values.sum()) / n
    return mean, max(float(values @ values) / n - mean**2, 0.0) ** 0.5
