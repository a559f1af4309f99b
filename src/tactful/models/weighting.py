"""How raw event values (ratings, play counts, signal weights) become model inputs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

ValueKind = Literal["rating", "count", "weight"]
Transform = Literal["identity", "binary", "log", "offset"]


def detect_value_kind(values: npt.NDArray[np.floating]) -> ValueKind:
    """``rating`` for a half-step scale up to 10 centred high, ``count`` for integers ≥ 1."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return "weight"
    return value_kind_from_stats(
        float(v.min()),
        float(v.max()),
        float(np.median(v)),
        bool(np.allclose(v * 2, np.round(v * 2))),
        bool(np.allclose(v, np.round(v))),
    )


def value_kind_from_stats(
    low: float, top: float, median: float, on_half_steps: bool, integral: bool
) -> ValueKind:
    """:func:`detect_value_kind` from summary figures (what a distributed job can aggregate)."""
    if low < 0:
        return "weight"
    if on_half_steps and low > 0 and 3 <= top <= 10 and median >= 0.5 * top:
        return "rating"
    if integral and low >= 1:
        return "count"
    return "weight"


@dataclass(frozen=True)
class SignalWeighting:
    """A value transform plus an optional recency half-life over a person's history.

    ``offset``: ``max(value - offset, 0)`` (ratings below the offset stop counting);
    ``log``: ``log1p(value)`` (heavy-tailed counts); ``binary``: 1 for every value > 0.
    ``power`` raises what is left above the offset (2: a 5★ counts far more than a 4★).
    ``half_life`` is counted in interactions, newest first, and needs timestamps.
    """

    transform: Transform = "identity"
    offset: float = 0.0
    half_life: float | None = None
    power: float = 1.0

    def values(self, raw: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        v = np.asarray(raw, dtype=np.float32)
        if self.transform == "binary":
            return (v > 0).astype(np.float32)
        if self.transform == "log":
            return np.log1p(np.maximum(v, 0.0)).astype(np.float32)
        if self.transform == "offset":
            above = np.maximum(v - np.float32(self.offset), 0.0)
            return (above if self.power == 1.0 else above ** np.float32(self.power)).astype(np.float32)
        return v

    def recency(self, timestamps: npt.NDArray[np.floating] | None) -> npt.NDArray[np.float32]:
        """Multipliers ``0.5 ** (rank_from_newest / half_life)`` ."""
        if timestamps is None or self.half_life is None:
            n = 0 if timestamps is None else len(timestamps)
            return np.ones(n, dtype=np.float32)
        ts = np.asarray(timestamps, dtype=np.float64)
        rank = np.empty(len(ts), dtype=np.float64)
        rank[np.argsort(-ts, kind="stable")] = np.arange(len(ts))
        return (0.5 ** (rank / self.half_life)).astype(np.float32)

    def row(
        self, raw: npt.NDArray[np.floating], timestamps: npt.NDArray[np.floating] | None = None
    ) -> npt.NDArray[np.float32]:
        """Model weights of one person's history."""
        weights = self.values(raw)
        if timestamps is not None and self.half_life is not None:
            weights = weights * self.recency(timestamps)
        return weights

    def matrix(self, raw: sp.csr_matrix) -> sp.csr_matrix:
        """The value transform applied to a users × items matrix (zeros dropped)."""
        out = sp.csr_matrix(raw, dtype=np.float32, copy=True)
        out.data = self.values(out.data)
        out.eliminate_zeros()
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignalWeighting:
        return cls(**data)

    def with_half_life(self, half_life: float | None) -> SignalWeighting:
        return replace(self, half_life=half_life)


def recency_matrix(times: sp.csr_matrix, half_life: float) -> sp.csr_matrix:
    """Per row, ``0.5 ** (rank_from_newest / half_life)`` at the entries of ``times``.

    Ranks as :meth:`SignalWeighting.recency` gives them for one history (equal times keep
    their stored order, the first counting as the newest).
    """
    t = sp.csr_matrix(times, dtype=np.float64, copy=True)
    t.sort_indices()
    owner = np.repeat(np.arange(t.shape[0]), np.diff(t.indptr))
    order = np.lexsort((np.arange(t.nnz), -t.data, owner))
    rank = np.empty(t.nnz, dtype=np.float64)
    rank[order] = np.arange(t.nnz) - t.indptr[owner[order]]
    t.data = 0.5 ** (rank / half_life)
    return t


def default_weighting(kind: ValueKind, values: npt.NDArray[np.floating]) -> SignalWeighting:
    """The untuned choice: low ratings stop counting, counts are log-scaled."""
    if kind == "rating":
        return SignalWeighting("offset", round(float(np.max(values)) * 0.6 * 2) / 2)
    if kind == "count":
        return SignalWeighting("log")
    return SignalWeighting("identity")


def candidate_weightings(kind: ValueKind, values: npt.NDArray[np.floating]) -> list[SignalWeighting]:
    """The transforms worth validating for a kind of value."""
    if kind == "rating":
        top = float(np.max(values))
        shares = [SignalWeighting("offset", round(top * share * 2) / 2) for share in (0.5, 0.6)]
        return [*shares, SignalWeighting("offset", round(top * 0.4 * 2) / 2, power=2.0)]
    if kind == "count":
        return [SignalWeighting("binary"), SignalWeighting("log")]
    return [SignalWeighting("identity"), SignalWeighting("binary")]
