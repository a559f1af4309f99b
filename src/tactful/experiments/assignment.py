"""Deterministic assignment: people hashed into 10,000 buckets.

Three independent hashes, each ``blake2b(salt ":" user_id) mod 10,000``:

- the **holdout** hash: buckets below ``holdout_percent * 100`` are held out of everything;
- the **namespace** hash: an experiment owns a range of its namespace's buckets (its
  ``slot``), and experiments sharing a namespace own disjoint ranges, so nobody is in two
  of them;
- the **variant** hash, salted per experiment: the 10,000 buckets are cut into one fixed
  range per variant, sized by weight. At a rollout share of ``p`` %, the lowest
  ``floor(size * p / 100)`` buckets of *each* range are in. Raising ``p`` only extends every
  range upwards: people are only ever added, and nobody changes variant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tactful.experiments.model import BUCKETS


def bucket(salt: str, user_id: str) -> int:
    """The person's bucket in ``[0, 10,000)`` under ``salt``."""
    digest = hashlib.blake2b(f"{salt}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def variant_ranges(weights: Sequence[float]) -> list[tuple[int, int]]:
    """Contiguous bucket ranges per variant, proportional to ``weights`` (largest remainder)."""
    if not weights or any(w <= 0 for w in weights):
        raise ValueError("weights must be positive")
    total = float(sum(weights))
    exact = [BUCKETS * w / total for w in weights]
    sizes = [int(x) for x in exact]
    left = BUCKETS - sum(sizes)
    for i in sorted(range(len(weights)), key=lambda k: (sizes[k] - exact[k], k))[:left]:
        sizes[i] += 1
    out, lo = [], 0
    for size in sizes:
        out.append((lo, lo + size))
        lo += size
    return out


def included(size: int, percent: float) -> int:
    """How many of a range's lowest buckets are in at a rollout share of ``percent``."""
    return int(size * min(max(percent, 0.0), 100.0) / 100.0 + 1e-9)


def variant_for(b: int, ranges: Sequence[tuple[int, int]], percent: float) -> int | None:
    """The variant index of variant bucket ``b`` at ``percent`` (None: not in the rollout yet)."""
    for index, (lo, hi) in enumerate(ranges):
        if lo <= b < hi:
            return index if b - lo < included(hi - lo, percent) else None
    return None


def allocate_slot(size: int, taken: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """The lowest free range of ``size`` namespace buckets not overlapping ``taken``."""
    start = 0
    for lo, hi in sorted(taken):
        if lo - start >= size:
            break
        start = max(start, hi)
    return (start, start + size) if start + size <= BUCKETS else None
