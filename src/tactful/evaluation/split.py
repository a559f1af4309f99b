"""The SPEC §5 holdout split: last ceil(20 %) per user by time, or a seeded random 20 %."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from tactful.evaluation.dataset import Dataset

TARGET_RATING = 4.0
MIN_INTERACTIONS = 5


@dataclass(frozen=True)
class Split:
    """Training data and, per test user, the held-out target items."""

    train_data: Dataset
    test_users: npt.NDArray[np.int32]
    targets: tuple[npt.NDArray[np.int32], ...]

    @property
    def train(self) -> sp.csr_matrix:
        """Users × items matrix of interaction values."""
        return interaction_matrix(self.train_data, self.train_data.values)

    @property
    def train_times(self) -> sp.csr_matrix | None:
        """Interaction timestamps with the same sparsity as :attr:`train`, if known."""
        data = self.train_data
        return None if data.timestamps is None else interaction_matrix(data, data.timestamps)

    @property
    def n_targets(self) -> int:
        return int(sum(len(t) for t in self.targets))

    def summary(self) -> dict[str, int]:
        """The ``split`` block of the evaluation report."""
        return {
            "users": self.train_data.n_users,
            "items": self.train_data.n_items,
            "train": len(self.train_data.users),
            "test_users": len(self.test_users),
            "targets": self.n_targets,
        }


def interaction_matrix(data: Dataset, values: npt.NDArray[np.floating]) -> sp.csr_matrix:
    """A canonical CSR matrix of ``values`` at the dataset's (user, item) pairs."""
    dtype = np.float64 if values.dtype == np.float64 else np.float32
    matrix = sp.csr_matrix(
        (values.astype(dtype), (data.users, data.items)), shape=(data.n_users, data.n_items)
    )
    matrix.sort_indices()
    return matrix


def holdout_split(
    data: Dataset,
    fraction: float = 0.2,
    min_interactions: int = MIN_INTERACTIONS,
    seed: int = 0,
    target_rating: float = TARGET_RATING,
) -> Split:
    """Hold out the last ``ceil(fraction × n)`` interactions of every user with ``n ≥ min``.

    Ordering is by timestamp (ties keep log order); without timestamps a seeded random
    order is used. Held-out ratings below ``target_rating`` are dropped from the targets;
    every held-out non-rating interaction is a target. Users with no target are skipped.
    """
    n = len(data.users)
    position = np.arange(n)
    if data.timestamps is not None:
        key = data.timestamps
    else:
        key = np.random.default_rng(seed).random(n)
    order = np.lexsort((position, key, data.users))
    counts = np.bincount(data.users, minlength=data.n_users)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    sorted_users = data.users[order]
    rank = np.arange(n) - starts[sorted_users]
    per_user = counts[sorted_users]
    n_hold = np.ceil(np.round(per_user * fraction, 9)).astype(np.int64)
    held_sorted = (per_user >= min_interactions) & (rank >= per_user - n_hold)
    held = np.zeros(n, dtype=np.bool_)
    held[order] = held_sorted

    is_target = held & (~data.is_rating | (data.values >= target_rating))
    target_users = data.users[is_target]
    target_items = data.items[is_target]
    by_user = np.argsort(target_users, kind="stable")
    test_users, first = np.unique(target_users[by_user], return_index=True)
    groups = np.split(target_items[by_user], first[1:]) if len(first) else []
    return Split(
        train_data=subset(data, ~held),
        test_users=test_users.astype(np.int32),
        targets=tuple(np.sort(g).astype(np.int32) for g in groups),
    )


def subset(data: Dataset, mask: npt.NDArray[np.bool_]) -> Dataset:
    """The interactions selected by ``mask``, keeping user and item codes."""
    return replace(
        data,
        users=data.users[mask],
        items=data.items[mask],
        values=data.values[mask],
        is_rating=data.is_rating[mask],
        timestamps=None if data.timestamps is None else data.timestamps[mask],
    )
