"""A profile laid out as arrays over the catalog, so decay and consent apply in a few numpy ops."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tactful.domain.event import Provenance
from tactful.engine.catalog import CatalogIndex
from tactful.signals.profile import DAY, DecayedScores, Profile

PROVENANCES: tuple[str, ...] = tuple(p.value for p in Provenance)


def _fill(scores: DecayedScores, row: int, score: np.ndarray, ts: np.ndarray) -> None:
    for prov, (value, since) in scores.parts.items():
        if prov in PROVENANCES:
            col = PROVENANCES.index(prov)
            score[row, col] = value
            ts[row, col] = since


def _decayed(
    score: np.ndarray, ts: np.ndarray, now: float, half_lives: np.ndarray, allowed: np.ndarray
) -> np.ndarray:
    if score.size == 0:
        return np.zeros(score.shape[0])
    age = np.maximum(now - ts, 0.0) / (half_lives * DAY)
    return np.asarray((score * np.power(0.5, age) * allowed).sum(axis=1))


@dataclass(frozen=True)
class CompiledProfile:
    """Tag and item scores per provenance, aligned to one catalog version."""

    catalog_version: int
    tag_pos: np.ndarray
    tag_score: np.ndarray
    tag_ts: np.ndarray
    tag_established: np.ndarray
    item_pos: np.ndarray
    item_score: np.ndarray
    item_ts: np.ndarray
    item_times: np.ndarray

    @classmethod
    def build(cls, profile: Profile, catalog: CatalogIndex) -> CompiledProfile:
        width = len(PROVENANCES)
        tags = [(catalog.tag_index[t], i) for t, i in profile.interests.items() if t in catalog.tag_index]
        tag_score = np.zeros((len(tags), width))
        tag_ts = np.zeros((len(tags), width))
        for row, (_, interest) in enumerate(tags):
            _fill(interest.scores, row, tag_score, tag_ts)
        items = [(catalog.index[i], s) for i, s in profile.items.items() if i in catalog.index]
        item_score = np.zeros((len(items), width))
        item_ts = np.zeros((len(items), width))
        for row, (_, state) in enumerate(items):
            _fill(state.scores, row, item_score, item_ts)
        return cls(
            catalog_version=catalog.version,
            tag_pos=np.array([p for p, _ in tags], dtype=np.int64),
            tag_score=tag_score,
            tag_ts=tag_ts,
            tag_established=np.array([i.established for _, i in tags], dtype=bool),
            item_pos=np.array([p for p, _ in items], dtype=np.int64),
            item_score=item_score,
            item_ts=item_ts,
            item_times=np.array([s.last_engaged or s.last_impression or 0.0 for _, s in items]),
        )

    def tag_values(self, now: float, half_lives: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        return _decayed(self.tag_score, self.tag_ts, now, half_lives, allowed)

    def item_values(self, now: float, half_lives: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        return _decayed(self.item_score, self.item_ts, now, half_lives, allowed)


def provenance_arrays(half_lives: dict[str, float], allowed: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
    """Half-life and consent mask per provenance column."""
    hl = np.array([half_lives.get(p, 30.0) for p in PROVENANCES])
    mask = np.array([1.0 if p in allowed else 0.0 for p in PROVENANCES])
    return hl, mask
