"""Synthetic interaction data with latent clusters, for fast model tests."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp


def clustered_matrix(
    n_users: int = 300, n_items: int = 240, clusters: int = 6, seed: int = 0
) -> sp.csr_matrix:
    """Each user mostly plays items of one cluster; values are play counts."""
    rng = np.random.default_rng(seed)
    item_cluster = np.arange(n_items) % clusters
    rows, cols, vals = [], [], []
    for u in range(n_users):
        home = u % clusters
        own = np.flatnonzero(item_cluster == home)
        other = np.flatnonzero(item_cluster != home)
        picks = np.concatenate([rng.choice(own, 12, replace=False), rng.choice(other, 3, replace=False)])
        rows.extend([u] * len(picks))
        cols.extend(picks.tolist())
        vals.extend(rng.integers(1, 40, len(picks)).tolist())
    return sp.csr_matrix((np.array(vals, np.float32), (rows, cols)), shape=(n_users, n_items))


@pytest.fixture(scope="session")
def plays() -> sp.csr_matrix:
    return clustered_matrix()
